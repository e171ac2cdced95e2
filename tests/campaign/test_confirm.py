"""Double opt-in: the confirmation email, and links that are good, reused, tampered or expired.

The link's GET only shows a page with a button (mail scanners fetch every link); the button's
POST confirms. Scanners and headless browsers: tests/campaign/test_link_scanners.py."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from typing import Any

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client

from campaign import events, services, tokens
from campaign.models import Consent, Supporter, SupporterAudit
from campaign.selectors import supporter_may_receive
from campaign.services import Evidence, SignupSource
from tests.harness.smtp import SmtpServer
from worker.models import OutboxTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consent_texts")]


def sign_up(
    texts: dict[str, dict[str, Any]],
    email: str = "amira@voorbeeld.nl",
    *,
    language: str = "nl",
    topics: tuple[str, ...] = ("stories", "appeals"),
    first_name: str = "Amira",
) -> Supporter:
    return services.supporter_sign_up(
        email=email,
        first_name=first_name,
        language=language,
        texts={topic: texts[language][topic] for topic in topics},
        evidence=Evidence(method=Consent.Method.FORM, ip="198.51.100.1", user_agent="test"),
        source=SignupSource(page="/"),
    )


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def confirmation_link(message: EmailMessage) -> str:
    match = re.search(
        r"https?://\S+/(?:aanmelden/bevestigen|en/signup/confirm)/\S+/", text_part(message)
    )
    assert match, text_part(message)
    return match.group(0)


def path_of(url: str) -> str:
    return url.removeprefix(settings.SITE_URL)


def press_confirm(client: Client, link: str, **extra: Any) -> Any:
    """What the button on the link's page sends."""
    return client.post(link, {"action": "confirm"}, **extra)


def state(supporter: Supporter) -> tuple[Any, ...]:
    """Everything a confirmation could change."""
    supporter.refresh_from_db()
    consents = tuple(
        Consent.objects.filter(supporter=supporter)
        .order_by("pk")
        .values_list("topic", "confirmed_at", "withdrawn_at")
    )
    return (
        supporter.status,
        supporter.confirmed_at,
        supporter.confirmation_nonce,
        consents,
        SupporterAudit.objects.filter(supporter=supporter).count(),
    )


def test_confirmation_email_is_in_the_supporters_language_with_unsubscribe_headers(
    consent_texts: dict[str, Any], smtp_server: SmtpServer
) -> None:
    dutch = sign_up(consent_texts, "amira@voorbeeld.nl")
    english = sign_up(consent_texts, "sam@voorbeeld.nl", language="en", first_name="")

    assert services.confirmation_send(supporter_id=dutch.pk) == "confirm"
    assert services.confirmation_send(supporter_id=english.pk) == "confirm"

    nl, en = (m.message for m in smtp_server.wait_for(2))
    assert nl["To"] == "amira@voorbeeld.nl"
    assert nl["Subject"] == "Bevestig je aanmelding bij Save the Survivors"
    assert nl["Content-Language"] == "nl"
    assert "Hoi Amira," in text_part(nl)
    assert "Verhalen" in text_part(nl)
    assert "Oproepen" in text_part(nl)
    assert "De link werkt 7 dagen." in text_part(nl)
    assert "Bevestig mijn aanmelding" in html_part(nl)
    assert confirmation_link(nl) in html_part(nl)
    assert "/aanmelden/bevestigen/" in confirmation_link(nl)
    assert f"{settings.SITE_URL}/voorkeuren/" in text_part(nl)
    unsubscribe = re.fullmatch(
        r"<(\S+/u/\S+/)>, <mailto:(\S+)\?subject=(\S+)>", nl["List-Unsubscribe"]
    )
    assert unsubscribe, nl["List-Unsubscribe"]
    assert unsubscribe.group(1).startswith(settings.SITE_URL)
    assert nl["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    assert en["Subject"] == "Please confirm your sign-up for Save the Survivors"
    assert "Hello," in text_part(en)
    assert "/en/signup/confirm/" in confirmation_link(en)
    assert "/en/preferences/" in text_part(en)
    sent = SupporterAudit.objects.filter(action=SupporterAudit.Action.CONFIRMATION_SENT)
    assert sent.count() == 2


def test_the_links_page_confirms_with_the_buttons_evidence_and_announces_it_after_commit(
    consent_texts: dict[str, Any],
    smtp_server: SmtpServer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    supporter = sign_up(consent_texts)
    services.confirmation_send(supporter_id=supporter.pk)
    link = path_of(confirmation_link(smtp_server.wait_for(1)[0].message))
    # What a mail app's webview is at worst: no cookies, and CSRF checks switched on.
    client = Client(enforce_csrf_checks=True)
    before = state(supporter)

    page = client.get(link, headers={"user-agent": "Link preview"}, REMOTE_ADDR="192.0.2.7")

    assert page.status_code == 200
    html = page.content.decode()
    assert '<h1 id="page-title">Bevestig je aanmelding</h1>' in html
    assert "<li>Oproepen</li>" in html
    assert "<li>Verhalen</li>" in html
    assert f'<form method="post" action="{link}">' in html
    assert '<button type="submit" class="button">Bevestig mijn aanmelding</button>' in html
    assert "no-store" in page["Cache-Control"]
    assert not client.cookies
    assert state(supporter) == before  # the GET changed nothing
    received: list[dict[str, Any]] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    events.supporter_confirmed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = press_confirm(
                client, link, headers={"user-agent": "Mail app"}, REMOTE_ADDR="192.0.2.99"
            )
            assert received == []  # nothing is announced before the commit
        for callback in callbacks:
            callback()
    finally:
        events.supporter_confirmed.disconnect(listener)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Dank je wel: je aanmelding is bevestigd" in html
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    )
    assert response["Referrer-Policy"] == "same-origin"
    supporter.refresh_from_db()
    assert supporter.status == Supporter.Status.ACTIVE
    assert supporter.confirmed_at is not None
    assert supporter.confirmation_nonce == ""
    for consent in Consent.objects.filter(supporter=supporter):
        assert consent.confirmed_at is not None
        assert (consent.confirmed_ip, consent.confirmed_user_agent) == ("192.0.2.99", "Mail app")
    assert received == [
        {
            "signal": events.supporter_confirmed,
            "supporter_id": supporter.pk,
            "topics": ["appeals", "stories"],
            "first_time": True,
        }
    ]
    assert supporter_may_receive(supporter.pk, "stories")
    assert not supporter_may_receive(supporter.pk, "donor_news")


def test_until_confirmed_nobody_may_be_emailed(consent_texts: dict[str, Any]) -> None:
    supporter = sign_up(consent_texts)

    assert not supporter_may_receive(supporter.pk, "stories")
    assert not supporter_may_receive(supporter.pk, "appeals")


def test_a_reused_link_shows_a_clear_page_and_changes_nothing(
    client: Client, consent_texts: dict[str, Any], smtp_server: SmtpServer
) -> None:
    supporter = sign_up(consent_texts)
    services.confirmation_send(supporter_id=supporter.pk)
    link = path_of(confirmation_link(smtp_server.wait_for(1)[0].message))
    assert press_confirm(client, link).status_code == 200
    before = state(supporter)

    for again in (client.get(link), press_confirm(client, link)):
        assert again.status_code == 200
        html = again.content.decode()
        assert '<h1 id="page-title">Je aanmelding is al bevestigd</h1>' in html
        assert "Er is niets veranderd: je bent aangemeld." in html
        assert "<form" not in html.split("<main")[-1].split("</main>")[0]
    assert state(supporter) == before


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature
        lambda token: re.sub(r"^\d+", lambda m: str(int(m.group(0)) + 1), token),  # other id
        lambda token: token.split(":")[0],  # signature cut off
        lambda token: "garbage",
        lambda token: tokens.supporter_token(supporter_id=1, link_secret="abcdef012345"),
    ],
)
def test_a_tampered_link_shows_a_clear_page_and_changes_nothing(
    client: Client, consent_texts: dict[str, Any], tamper: Any
) -> None:
    supporter = sign_up(consent_texts)
    token = tokens.confirmation_token(supporter_id=supporter.pk, nonce=supporter.confirmation_nonce)
    before = state(supporter)

    link = f"/aanmelden/bevestigen/{tamper(token)}/"

    for response in (client.get(link), press_confirm(client, link)):
        assert response.status_code == 400
        assert "Deze link is niet geldig" in response.content.decode()
    assert state(supporter) == before


class _SignerInThePast(signing.TimestampSigner):
    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - 8 * 24 * 3600)


def test_an_expired_link_changes_nothing_and_offers_a_new_one(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    supporter = sign_up(consent_texts)
    OutboxTask.objects.all().delete()
    eight_days_old = _SignerInThePast(salt=tokens.CONFIRM_SALT).sign(
        f"{supporter.pk}.{supporter.confirmation_nonce}"
    )
    before = state(supporter)

    link = f"/en/signup/confirm/{eight_days_old}/"

    for response in (client.get(link), press_confirm(client, link)):
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
        assert '<input type="hidden" name="action" value="resend">' in response.content.decode()
    assert state(supporter) == before
    assert OutboxTask.objects.count() == 0

    again = client.post(link, {"action": "resend"})

    assert again.status_code == 200
    assert "Check your inbox" in again.content.decode()
    assert list(OutboxTask.objects.values_list("args", flat=True)) == [[supporter.pk]]
    assert state(supporter) == before


def test_an_old_link_never_resubscribes_someone_who_unsubscribed(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    supporter = sign_up(consent_texts)
    token = tokens.confirmation_token(supporter_id=supporter.pk, nonce=supporter.confirmation_nonce)
    link = f"/aanmelden/bevestigen/{token}/"
    services.supporter_unsubscribe(
        supporter_id=supporter.pk, method=Consent.Method.ONE_CLICK, actor="supporter"
    )
    before = state(supporter)

    for response in (client.get(link), press_confirm(client, link)):
        assert "Deze link is al gebruikt" in response.content.decode()
    assert state(supporter) == before
    assert not supporter_may_receive(supporter.pk, "stories")


def test_signing_up_again_keeps_earlier_links_working_until_one_is_used(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    supporter = sign_up(consent_texts, topics=("stories",))
    first = tokens.confirmation_token(supporter_id=supporter.pk, nonce=supporter.confirmation_nonce)
    again = sign_up(consent_texts, topics=("appeals",))
    assert again.pk == supporter.pk

    assert press_confirm(client, f"/aanmelden/bevestigen/{first}/").status_code == 200

    assert supporter_may_receive(supporter.pk, "stories")
    assert supporter_may_receive(supporter.pk, "appeals")


def test_a_confirmed_supporter_signing_up_again_gets_the_preference_link_instead(
    client: Client, consent_texts: dict[str, Any], smtp_server: SmtpServer
) -> None:
    supporter = sign_up(consent_texts, topics=("stories",))
    token = tokens.confirmation_token(supporter_id=supporter.pk, nonce=supporter.confirmation_nonce)
    press_confirm(client, f"/aanmelden/bevestigen/{token}/")
    sign_up(consent_texts, "AMIRA@voorbeeld.nl", topics=("stories",))

    assert services.confirmation_send(supporter_id=supporter.pk) == "subscribed"

    message = smtp_server.wait_for(1)[0].message
    assert message["Subject"] == "Je bent aangemeld bij Save the Survivors"
    assert "Je bent al aangemeld voor:" in text_part(message)
    assert "/aanmelden/bevestigen/" not in text_part(message)
    assert "/voorkeuren/" in text_part(message)


def test_nothing_is_sent_to_someone_who_unsubscribed_or_was_erased_meanwhile(
    consent_texts: dict[str, Any], smtp_server: SmtpServer
) -> None:
    gone = sign_up(consent_texts, "weg@voorbeeld.nl")
    erased = sign_up(consent_texts, "gewist@voorbeeld.nl")
    services.supporter_unsubscribe(supporter_id=gone.pk, method="one_click", actor="supporter")
    services.supporter_erase(supporter_id=erased.pk, actor="staff", method="staff")

    assert services.confirmation_send(supporter_id=gone.pk) is None
    assert services.confirmation_send(supporter_id=erased.pk) is None
    assert services.confirmation_send(supporter_id=999_999_999) is None
    time.sleep(0.2)
    assert smtp_server.messages == []
