"""Personal data (AVG art. 15, 17, 20) needs a fresh link: the preference centre emails one for
one purpose to the supporter's own address; it works for 30 minutes, once, and only after its
page's button is pressed. Links are read from the email a real SMTP server received."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

import pytest
from django.conf import settings
from django.core import signing
from django.db import connection
from django.test import Client

from campaign import tokens
from campaign.emails import supporter_link_token
from campaign.models import Consent, Supporter, SupporterAudit
from campaign.tasks import data_link_send_task
from tests.factories import ConsentFactory, SupporterFactory
from tests.harness.smtp import SmtpServer
from worker.models import OutboxTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consent_texts")]

LINK = re.compile(
    r"https?://\S+/(?:mijn-gegevens/(?:downloaden|wissen)|en/my-data/(?:download|erase))/\S+/"
)
# Where the preference centre's "send me a link" buttons post.
REQUEST_PATHS = {
    ("nl", "export"): "/voorkeuren/{}/gegevens/",
    ("nl", "erase"): "/voorkeuren/{}/wissen/",
    ("en", "export"): "/en/preferences/{}/data/",
    ("en", "erase"): "/en/preferences/{}/erase/",
}
# tokens.DATA_LINK_MAX_AGE is 30 minutes: one minute past it.
THIRTY_ONE_MINUTES = 31 * 60


@pytest.fixture
def supporter(consent_texts: dict[str, Any]) -> Supporter:
    person = SupporterFactory(email="noor@voorbeeld.nl", first_name="Noor", language="nl")
    for topic in ("stories", "appeals"):
        ConsentFactory(supporter=person, topic=topic, text=consent_texts["nl"][topic])
    return person


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def request_link(client: Client, supporter: Supporter, purpose: str, smtp: SmtpServer) -> str:
    """Press "send me a link" in the preference centre, let the task send it, read the email."""
    button = REQUEST_PATHS[supporter.language, purpose].format(supporter_link_token(supporter))
    assert client.post(button).status_code == 200
    row = OutboxTask.objects.filter(task_name="campaign.tasks.data_link_send").latest("pk")
    assert row.args == [supporter.pk, purpose]
    count = len(smtp.messages)
    data_link_send_task(*row.args)  # what the worker runs
    message = smtp.wait_for(count + 1)[-1].message
    assert message["To"] == supporter.email
    match = LINK.search(text_part(message))
    assert match, text_part(message)
    return match.group(0).removeprefix(settings.SITE_URL)


def exports(supporter: Supporter) -> int:
    return SupporterAudit.objects.filter(
        supporter=supporter, action=SupporterAudit.Action.EXPORTED
    ).count()


class _SignerInThePast(tokens.LinkTimestampSigner):
    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - THIRTY_ONE_MINUTES)


def test_the_emailed_download_link_shows_a_button_and_downloads_once(
    client: Client, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    link = request_link(client, supporter, "export", smtp_server)

    message = smtp_server.messages[-1].message
    assert message["Subject"] == "Je link om je gegevens te downloaden"
    assert "Hoi Noor," in text_part(message)
    assert "De link werkt 30 minuten, en maar één keer." in text_part(message)
    assert link.startswith("/mijn-gegevens/downloaden/")
    assert supporter_link_token(supporter) not in link

    page = Client(enforce_csrf_checks=True)  # the link works without cookies
    shown = page.get(link)
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    html = shown.content.decode()
    assert f'<form method="post" action="{link}">' in html
    assert "Download mijn gegevens (JSON)" in html
    assert exports(supporter) == 0  # opening the page exported nothing

    download = page.post(link)

    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    document = json.loads(download.content)
    assert document["supporter"]["email"] == "noor@voorbeeld.nl"
    assert {c["topic"] for c in document["consents"]} == {"stories", "appeals"}
    audit = SupporterAudit.objects.get(supporter=supporter, action=SupporterAudit.Action.EXPORTED)
    assert (audit.actor, audit.method) == ("supporter", Consent.Method.EMAIL_LINK)
    # Used once: pressing again or opening it again serves nothing.
    for again in (page.post(link), page.get(link)):
        assert again.status_code == 410
        assert "Deze link is al gebruikt" in again.content.decode()
        assert "noor@voorbeeld.nl" not in again.content.decode()
    assert exports(supporter) == 1
    # The email about it is in the supporter's own export as a sent email.
    kinds = [e["kind"] for e in document["emails_sent"]]
    assert kinds == ["data_link"]


def test_an_expired_link_downloads_and_erases_nothing(
    client: Client, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    for purpose, path in (("export", "downloaden"), ("erase", "wissen")):
        fresh = request_link(client, supporter, purpose, smtp_server)
        value = tokens.LinkTimestampSigner(salt=tokens.DATA_SALTS[purpose]).unsign(
            fresh.rstrip("/").rsplit("/", 1)[-1]
        )
        old = _SignerInThePast(salt=tokens.DATA_SALTS[purpose]).sign(value)
        link = f"/mijn-gegevens/{path}/{old}/"

        for response in (client.get(link), client.post(link)):
            assert response.status_code == 410
            assert "Deze link is verlopen" in response.content.decode()

    assert exports(supporter) == 0
    supporter.refresh_from_db()
    assert supporter.erased_at is None


def test_the_erase_link_erases_only_after_its_button(
    client: Client, consent_texts: dict[str, Any], smtp_server: SmtpServer
) -> None:
    person = SupporterFactory(email="sam@voorbeeld.nl", first_name="", language="en")
    ConsentFactory(supporter=person, topic="stories", text=consent_texts["en"]["stories"])
    link = request_link(client, person, "erase", smtp_server)
    assert smtp_server.messages[-1].message["Subject"] == "Your link to erase your data"
    assert link.startswith("/en/my-data/erase/")

    shown = client.get(link)
    assert shown.status_code == 200
    assert "Erase my data?" in shown.content.decode()
    person.refresh_from_db()
    assert person.erased_at is None

    done = client.post(link)

    assert "Your data is erased" in done.content.decode()
    person.refresh_from_db()
    assert person.erased_at is not None
    assert person.email is None
    assert SupporterAudit.objects.filter(
        supporter=person, action=SupporterAudit.Action.ERASED, method=Consent.Method.EMAIL_LINK
    ).exists()
    assert client.post(link).status_code == 404


def test_a_link_serves_only_its_own_purpose_and_forgeries_serve_nothing(
    client: Client, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    export_token = request_link(client, supporter, "export", smtp_server).split("/")[-2]
    erase_token = request_link(client, supporter, "erase", smtp_server).split("/")[-2]
    preferences_token = supporter_link_token(supporter)

    for link in (
        f"/mijn-gegevens/wissen/{export_token}/",
        f"/mijn-gegevens/downloaden/{erase_token}/",
        f"/mijn-gegevens/downloaden/{preferences_token}/",
        f"/mijn-gegevens/wissen/{preferences_token}/",
        f"/mijn-gegevens/downloaden/{export_token[:-2]}xx/",
        "/mijn-gegevens/downloaden/garbage/",
    ):
        for response in (client.get(link), client.post(link)):
            assert response.status_code == 404, link
            assert "Deze link is niet geldig" in response.content.decode()

    assert exports(supporter) == 0
    supporter.refresh_from_db()
    assert supporter.erased_at is None


def test_revoking_the_preference_link_revokes_its_data_links(
    client: Client, supporter: Supporter, smtp_server: SmtpServer
) -> None:
    link = request_link(client, supporter, "export", smtp_server)
    Supporter.objects.filter(pk=supporter.pk).update(link_secret="0123456789ab")

    assert client.post(link).status_code == 404
    assert exports(supporter) == 0


@pytest.mark.usefixtures("clean_broker")
def test_sending_data_links_is_rate_limited_per_supporter(
    client: Client, supporter: Supporter, settings: Any
) -> None:
    settings.SUPPORTERS_RATE_RESEND_EMAIL = "2/h"
    other = SupporterFactory()
    url = f"/voorkeuren/{supporter_link_token(supporter)}/gegevens/"

    answers = [client.post(url).status_code for _ in range(3)]
    other_answer = client.post(f"/voorkeuren/{supporter_link_token(other)}/wissen/")

    assert answers == [200, 200, 429]
    assert other_answer.status_code == 200
    queued = OutboxTask.objects.filter(task_name="campaign.tasks.data_link_send")
    assert sorted(tuple(args) for args in queued.values_list("args", flat=True)) == sorted(
        [(supporter.pk, "export"), (supporter.pk, "export"), (other.pk, "erase")]
    )


@pytest.mark.django_db(transaction=True)
def test_two_presses_at_once_download_once(
    consent_texts: dict[str, Any], smtp_server: SmtpServer
) -> None:
    """The supporter row is locked until the audit row that spends the link commits."""
    person = SupporterFactory(email="dubbel@voorbeeld.nl", language="nl")
    ConsentFactory(supporter=person, topic="stories", text=consent_texts["nl"]["stories"])
    link = request_link(Client(), person, "export", smtp_server)
    start = threading.Barrier(2)

    def press() -> int:
        try:
            start.wait(timeout=10)
            return Client().post(link).status_code
        finally:
            connection.close()  # each thread has its own connection

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = sorted(pool.map(lambda _: press(), range(2)))

    assert answers == [200, 410]
    assert exports(person) == 1
