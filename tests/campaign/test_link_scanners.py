"""Mail scanners (Proofpoint, Mimecast, Barracuda, Microsoft Safe Links, Google) fetch every
link of a message before a person sees it, some in a headless browser. Fetching any link in any
of our emails confirms nobody, unsubscribes nobody, counts no click, and exports or erases
nothing; a person pressing the confirmation page's button confirms, with their own browser's
user agent as the evidence.

The emails are the real ones, read from a real SMTP server: the double opt-in, a story mailing
with tracked links, and the two personal-data link emails."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaign import data_links, services
from campaign.models import Consent, Supporter, SupporterAudit
from campaign.services import Evidence, SignupSource
from mailing import services as mailing_services
from mailing.models import Click, Delivery
from mailing.sending import deliveries_send
from tests.factories import ConsentFactory, SupporterFactory
from tests.harness.smtp import SmtpServer
from tests.mailing.factories import MailingFactory

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# What these services send, as published or seen in server logs. Several pretend to be a
# browser ("Mozilla/5.0 ...") and send a browser's Accept header, as here.
SCANNERS = {
    "proofpoint": "Proofpoint URL Defense",
    "mimecast": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Mimecast URL Protect",
    "barracuda": "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))",
    "safelinks": "Mozilla/5.0 (compatible; Microsoft Defender SafeLinks)",
    "microsoft-office": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; "
    "Pro)",
    "ms-office-mozilla": "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    "google-safety": "Mozilla/5.0 (compatible; Google-Safety; +http://www.google.com/bot.html)",
    "google-image-proxy": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
    "(via ggpht.com GoogleImageProxy)",
    "headless-chromium": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36",
}


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def links_in(message: EmailMessage) -> list[str]:
    """Every link of ours in the email: its HTML hrefs and the List-Unsubscribe URL."""
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', html_of(message))]
    header = re.findall(r"<(https?://[^>]+)>", message.get("List-Unsubscribe", ""))
    return [link for link in [*hrefs, *header] if link.startswith(settings.SITE_URL)]


@dataclass
class Inboxes:
    pending: Supporter  # signed up, has the confirmation email
    member: Supporter  # active, has a story mailing and both personal-data link emails
    messages: list[EmailMessage]

    def links(self) -> list[str]:
        return sorted({link for message in self.messages for link in links_in(message)})


def fill_inboxes(smtp: SmtpServer, texts: dict[str, Any]) -> Inboxes:
    pending = services.supporter_sign_up(
        email="nieuw@voorbeeld.nl",
        first_name="Nieuw",
        language="nl",
        texts={"stories": texts["nl"]["stories"]},
        evidence=Evidence(method=Consent.Method.FORM, ip="198.51.100.1", user_agent="Browser"),
        source=SignupSource(page="/"),
    )
    services.confirmation_send(supporter_id=pending.pk)
    member = SupporterFactory(email="lid@voorbeeld.nl", language="nl")
    ConsentFactory(supporter=member, topic="stories", text=texts["nl"]["stories"])
    mailing = MailingFactory()
    mailing_services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    mailing_services.mailing_tick()
    assert deliveries_send([Delivery.objects.get(supporter=member).pk]).sent == 1
    for purpose in data_links.PURPOSES:
        assert data_links.data_link_send(supporter_id=member.pk, purpose=purpose)
    messages = [m.message for m in smtp.wait_for(4)]
    return Inboxes(pending=pending, member=member, messages=messages)


def kinds_of(links: list[str]) -> set[str]:
    kinds = {
        "/aanmelden/bevestigen/": "confirm",
        "/u/": "unsubscribe",
        "/r/": "tracked",
        "/voorkeuren/": "preferences",
        "/mijn-gegevens/downloaden/": "download",
        "/mijn-gegevens/wissen/": "erase",
    }
    return {kind for link in links for part, kind in kinds.items() if part in link}


def assert_nothing_changed(inboxes: Inboxes) -> None:
    pending = Consent.objects.get(supporter=inboxes.pending)
    assert pending.confirmed_at is None
    assert Supporter.objects.get(pk=inboxes.pending.pk).status == Supporter.Status.PENDING
    assert Consent.objects.get(supporter=inboxes.member).withdrawn_at is None
    assert Supporter.objects.get(pk=inboxes.member.pk).erased_at is None
    assert not Click.objects.exists()
    changes = SupporterAudit.objects.filter(
        action__in=[
            SupporterAudit.Action.CONFIRMED,
            SupporterAudit.Action.UNSUBSCRIBED,
            SupporterAudit.Action.PREFERENCES_CHANGED,
            SupporterAudit.Action.EXPORTED,
            SupporterAudit.Action.ERASED,
        ]
    )
    assert list(changes.values_list("action", flat=True)) == []


@pytest.mark.django_db
@pytest.mark.usefixtures("consent_texts")
@pytest.mark.parametrize("agent", SCANNERS.values(), ids=SCANNERS.keys())
def test_a_scanner_fetching_every_link_changes_nothing(
    agent: str, smtp_server: SmtpServer, consent_texts: dict[str, Any]
) -> None:
    inboxes = fill_inboxes(smtp_server, consent_texts)
    links = inboxes.links()
    assert kinds_of(links) == {
        "confirm",
        "unsubscribe",
        "tracked",
        "preferences",
        "download",
        "erase",
    }
    scanner = Client(HTTP_USER_AGENT=agent, HTTP_ACCEPT=BROWSER_ACCEPT)

    for link in links:
        path = urlsplit(link).path + (f"?{urlsplit(link).query}" if urlsplit(link).query else "")
        for _ in range(2):  # scanners fetch links more than once
            assert scanner.get(path).status_code in {200, 302}, link
            assert scanner.head(path).status_code in {200, 302, 405}, link

    assert_nothing_changed(inboxes)


@pytest.mark.django_db
@pytest.mark.usefixtures("consent_texts")
def test_a_persons_browser_click_on_a_tracked_link_still_counts(
    smtp_server: SmtpServer, consent_texts: dict[str, Any]
) -> None:
    """The scanner rule must not throw away people's clicks."""
    inboxes = fill_inboxes(smtp_server, consent_texts)
    tracked = [urlsplit(link).path for link in inboxes.links() if "/r/" in link]
    person = Client(
        HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        HTTP_ACCEPT=BROWSER_ACCEPT,
    )

    assert person.get(tracked[0]).status_code == 302

    assert Click.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.usefixtures("consent_texts", "clean_broker")
def test_headless_chromium_opening_every_link_changes_nothing_and_its_click_confirms(
    page: Page,
    live_server: Any,
    smtp_server: SmtpServer,
    consent_texts: dict[str, Any],
    settings: Any,
) -> None:
    settings.SITE_URL = live_server.url  # the links in the emails lead to this server
    inboxes = fill_inboxes(smtp_server, consent_texts)
    links = inboxes.links()
    assert kinds_of(links) == {
        "confirm",
        "unsubscribe",
        "tracked",
        "preferences",
        "download",
        "erase",
    }

    # A sandbox opens every link in a real browser, lets each page load, and clicks nothing.
    for link in links:
        response = page.goto(link)
        assert response is not None
        assert response.status == 200, link
        page.wait_for_load_state("networkidle")
    assert_nothing_changed(inboxes)

    # A person opens the confirmation link and presses the button.
    confirm = next(link for link in links if "/aanmelden/bevestigen/" in link)
    page.goto(confirm)
    expect(page.get_by_role("heading", level=1)).to_have_text("Bevestig je aanmelding")
    page.get_by_role("button", name="Bevestig mijn aanmelding").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Dank je wel: je aanmelding is bevestigd"
    )

    chromium_agent = page.evaluate("navigator.userAgent")
    assert "HeadlessChrome" in chromium_agent
    consent = Consent.objects.get(supporter=inboxes.pending)
    assert consent.confirmed_at is not None
    assert (consent.confirmed_ip, consent.confirmed_user_agent) == ("127.0.0.1", chromium_agent)
    assert Supporter.objects.get(pk=inboxes.pending.pk).status == Supporter.Status.ACTIVE
