"""The preference centre: opened from a signed link, no account; topics, language, unsubscribe."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from campaign import events, services
from campaign.emails import supporter_link_token
from campaign.models import Consent, Supporter, SupporterAudit
from campaign.selectors import supporter_may_receive
from tests.factories import ConsentFactory, SupporterFactory
from worker.models import OutboxTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consent_texts")]


@pytest.fixture
def supporter(consent_texts: dict[str, Any]) -> Supporter:
    person = SupporterFactory(email="lina@voorbeeld.nl", first_name="Lina", language="nl")
    for topic in ("stories", "appeals"):
        ConsentFactory(supporter=person, topic=topic, text=consent_texts["nl"][topic])
    return person


def prefs_data(texts: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "action": "save",
        "first_name": "Lina",
        "language": "nl",
        "topics": ["stories", "appeals"],
        "consent_texts": ",".join(str(t.pk) for t in texts.values()),
    }
    data.update(overrides)
    return data


def test_the_link_opens_the_preference_centre_without_an_account(
    client: Client, supporter: Supporter
) -> None:
    token = supporter_link_token(supporter)

    response = client.get(f"/voorkeuren/{token}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Je e-mailvoorkeuren" in html
    assert "lina@voorbeeld.nl" in html
    assert 'value="stories" id="id_topics_0" checked' in html
    assert 'value="appeals" id="id_topics_1" checked' in html
    assert 'value="donor_news" id="id_topics_2">' in html
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    # The language switch keeps the visitor in their preference centre.
    assert f'href="/en/preferences/{token}/"' in html


def test_switching_language_and_dropping_a_topic(
    client: Client, supporter: Supporter, consent_texts: dict[str, Any]
) -> None:
    token = supporter_link_token(supporter)

    response = client.post(
        f"/voorkeuren/{token}/",
        prefs_data(consent_texts["nl"], language="en", topics=["stories"]),
    )

    assert response.status_code == 302
    assert response["Location"] == f"/en/preferences/{token}/?done=saved"
    page = client.get(response["Location"]).content.decode()
    assert "Your choices are saved." in page
    assert '<html lang="en">' in page
    supporter.refresh_from_db()
    assert supporter.language == "en"
    assert supporter_may_receive(supporter.pk, "stories")
    assert not supporter_may_receive(supporter.pk, "appeals")
    dropped = Consent.objects.get(supporter=supporter, topic="appeals")
    assert dropped.withdrawn_method == Consent.Method.PREFERENCE_CENTRE
    audit = SupporterAudit.objects.get(supporter=supporter)
    assert audit.action == SupporterAudit.Action.PREFERENCES_CHANGED
    assert audit.details == {
        "added": [],
        "removed": ["appeals"],
        "fields": ["language"],
        "language": "en",
    }


def test_adding_a_topic_records_consent_with_the_wording_shown(
    client: Client, supporter: Supporter, consent_texts: dict[str, Any]
) -> None:
    token = supporter_link_token(supporter)

    client.post(
        f"/en/preferences/{token}/",
        prefs_data(consent_texts["en"], topics=["stories", "appeals", "donor_news"]),
        headers={"user-agent": "Browser"},
        REMOTE_ADDR="192.0.2.5",
    )

    added = Consent.objects.get(supporter=supporter, topic="donor_news")
    assert added.text == consent_texts["en"]["donor_news"]
    assert added.method == Consent.Method.PREFERENCE_CENTRE
    assert added.confirmed_at is not None
    assert (added.ip, added.user_agent) == ("192.0.2.5", "Browser")
    assert supporter_may_receive(supporter.pk, "donor_news")


def test_saving_without_changes_writes_nothing(
    client: Client, supporter: Supporter, consent_texts: dict[str, Any]
) -> None:
    token = supporter_link_token(supporter)

    client.post(f"/voorkeuren/{token}/", prefs_data(consent_texts["nl"]))

    assert SupporterAudit.objects.count() == 0
    assert Consent.objects.filter(supporter=supporter).count() == 2


def test_bad_input_in_the_preference_centre_gets_translated_errors(
    client: Client, supporter: Supporter, consent_texts: dict[str, Any]
) -> None:
    token = supporter_link_token(supporter)

    response = client.post(
        f"/voorkeuren/{token}/",
        prefs_data(consent_texts["nl"], first_name="www.spam.example", language="xx"),
    )

    html = response.content.decode()
    assert "Gebruik in je voornaam alleen letters" in html
    assert "Kies Nederlands of Engels." in html
    supporter.refresh_from_db()
    assert supporter.first_name == "Lina"


def test_unsubscribing_from_everything_in_the_preference_centre(
    client: Client, supporter: Supporter, django_capture_on_commit_callbacks: Any
) -> None:
    token = supporter_link_token(supporter)
    received: list[dict[str, Any]] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    events.supporter_unsubscribed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/voorkeuren/{token}/", {"action": "unsubscribe"})
    finally:
        events.supporter_unsubscribed.disconnect(listener)

    assert response["Location"] == f"/voorkeuren/{token}/?done=unsubscribed"
    assert (
        "Je bent afgemeld voor al onze e-mails" in client.get(response["Location"]).content.decode()
    )
    supporter.refresh_from_db()
    assert supporter.status == Supporter.Status.UNSUBSCRIBED
    assert not Consent.objects.filter(supporter=supporter, withdrawn_at__isnull=True).exists()
    assert [r["supporter_id"] for r in received] == [supporter.pk]


def test_a_pending_supporter_confirms_by_saving_in_the_preference_centre(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    pending = SupporterFactory(status=Supporter.Status.PENDING, confirmed_at=None)
    ConsentFactory(supporter=pending, topic="stories", confirmed_at=None)
    token = supporter_link_token(pending)
    assert "wacht op je bevestiging" in client.get(f"/voorkeuren/{token}/").content.decode()

    client.post(
        f"/voorkeuren/{token}/",
        prefs_data(consent_texts["nl"], topics=["stories"], first_name=pending.first_name),
    )

    pending.refresh_from_db()
    assert pending.status == Supporter.Status.ACTIVE
    assert supporter_may_receive(pending.pk, "stories")


def test_invalid_revoked_and_erased_links_show_a_clear_page(
    client: Client, supporter: Supporter
) -> None:
    token = supporter_link_token(supporter)
    other = SupporterFactory()
    services.supporter_erase(supporter_id=other.pk, actor="staff", method="staff")

    for url in (
        f"/voorkeuren/{token[:-3]}xyz/",
        "/voorkeuren/1.abcdef012345:forged/",
        f"/voorkeuren/{supporter_link_token(other)}/",
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert "Deze link is niet geldig" in response.content.decode()


def test_the_preference_link_alone_neither_downloads_nor_erases_it_emails_a_link(
    client: Client, supporter: Supporter
) -> None:
    """The preference link is in every email and gets forwarded: it only asks for a fresh,
    short-lived link to the supporter's own address (tests/campaign/test_data_links.py)."""
    token = supporter_link_token(supporter)
    page = client.get(f"/voorkeuren/{token}/").content.decode()
    assert f'action="/voorkeuren/{token}/gegevens/"' in page
    assert "Stuur me een link om mijn gegevens te downloaden" in page
    assert "Stuur me een link om mijn gegevens te wissen" in page
    assert "die 30 minuten werkt" in page

    download = client.post(f"/voorkeuren/{token}/gegevens/")
    erase_page = client.get(f"/voorkeuren/{token}/wissen/")
    erase = client.post(f"/voorkeuren/{token}/wissen/")

    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/html")
    assert "Content-Disposition" not in download
    assert "lina@voorbeeld.nl" not in download.content.decode()
    assert "We hebben je een link gemaild om je gegevens te downloaden." in (
        download.content.decode()
    )
    assert "De link werkt 30 minuten, en maar één keer." in download.content.decode()
    assert erase_page.status_code == 302
    assert erase_page["Location"] == f"/voorkeuren/{token}/#data"
    assert "We hebben je een link gemaild om je gegevens te wissen." in erase.content.decode()
    supporter.refresh_from_db()
    assert supporter.erased_at is None
    assert supporter.email == "lina@voorbeeld.nl"
    assert not SupporterAudit.objects.filter(action=SupporterAudit.Action.EXPORTED).exists()
    queued = OutboxTask.objects.order_by("pk").values_list("task_name", "args")
    assert list(queued) == [
        ("campaign.tasks.data_link_send", [supporter.pk, "export"]),
        ("campaign.tasks.data_link_send", [supporter.pk, "erase"]),
    ]
    assert client.get(f"/voorkeuren/{token}/gegevens/").status_code == 405
