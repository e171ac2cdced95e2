"""Click tracking: the email's links go through the signed redirect, a person's click is
recorded once per link, scanners and HEAD requests are redirected but not counted, nothing a
scanner fetches unsubscribes anyone, and the donate link keeps its attribution."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from campaign.models import Consent
from mailing import services
from mailing.models import Click, Delivery, Message
from mailing.results import funnel
from mailing.sending import deliveries_send
from tests.factories import ConsentFactory, SupporterFactory
from tests.mailing.factories import MailingFactory

pytestmark = pytest.mark.django_db

BROWSER = {
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8",
}
SCANNER = {
    "HTTP_USER_AGENT": "Mozilla/5.0 (compatible; Microsoft Office SafeLinks scanner)",
    "HTTP_ACCEPT": "*/*",
}


def _sent_email(smtp_server: Any) -> tuple[Delivery, str]:
    """A story mailing sent to one consenting supporter; returns its row and the HTML part."""
    consent = ConsentFactory(supporter=SupporterFactory(language="nl"))
    mailing = MailingFactory()
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()
    row = Delivery.objects.get(supporter_id=consent.supporter_id)
    assert deliveries_send([row.pk]).sent == 1
    message = smtp_server.wait_for(1)[0].message
    return row, message.get_body(("html",)).get_content()


def _hrefs(page: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', page)]


def _tracked(page: str) -> list[str]:
    return [h for h in _hrefs(page) if "/r/" in h]


def _path(url: str) -> str:
    return urlsplit(url).path


def test_a_persons_click_is_counted_once_and_redirected(smtp_server: Any, client: Client) -> None:
    row, page = _sent_email(smtp_server)
    tracked = _tracked(page)
    # The story link and the donate button at least; the unsubscribe and preference links
    # stay direct.
    assert len(tracked) >= 2
    assert any("/u/" in h for h in _hrefs(page))
    assert not any("/u/" in h or "voorkeuren" in h for h in tracked)

    story_link = next(
        h for h in tracked if "doneer" not in client.get(_path(h), **SCANNER)["Location"]
    )
    response = client.get(_path(story_link), **BROWSER)
    assert response.status_code == 302
    story_url = row.message.content["languages"]["nl"]["story_url"]
    assert story_url.startswith("https://www.savethechildren.example/")
    assert response["Location"] == story_url
    again = client.get(_path(story_link), **BROWSER)
    assert again.status_code == 302

    assert list(Click.objects.values_list("delivery_id", "url")) == [(row.pk, story_url)]
    assert funnel(Message.objects.filter(pk=row.message_id)).clicked == 1


def test_the_donate_link_keeps_its_source_token(smtp_server: Any, client: Client) -> None:
    row, page = _sent_email(smtp_server)
    locations = [client.get(_path(h), **BROWSER)["Location"] for h in _tracked(page)]
    donate = next(location for location in locations if "/doneer/" in location)
    source = parse_qs(urlsplit(donate).query)["source"][0]
    # The gift after this click is credited to this email.
    assert services.source_token_read(source) == row.pk
    # The tracked link in the email carries the same signed source token.
    tracked_donate = [h for h in _tracked(page) if "?source=" in h]
    assert [parse_qs(urlsplit(h).query)["source"][0] for h in tracked_donate] == [source]


def test_scanners_and_head_requests_are_redirected_but_not_counted(
    smtp_server: Any, client: Client
) -> None:
    row, page = _sent_email(smtp_server)

    # A mail scanner fetches every link in the message, the unsubscribe link included
    for href in _hrefs(page):
        if href.startswith("https://"):
            response = client.get(_path(href), **SCANNER)
            assert response.status_code in (200, 302)
    for href in _tracked(page):
        assert client.head(_path(href), **BROWSER).status_code == 302
        assert client.get(_path(href), HTTP_USER_AGENT="python-requests/2.32").status_code == 302

    # Then no click is counted, and the supporter is still subscribed
    assert not Click.objects.exists()
    consent = Consent.objects.get(supporter_id=row.supporter_id)
    assert consent.withdrawn_at is None


def test_a_forged_token_or_a_link_that_does_not_exist_is_404(
    smtp_server: Any, client: Client
) -> None:
    _row, page = _sent_email(smtp_server)
    link = _path(_tracked(page)[0])
    token = link.split("/")[2]
    assert client.get(f"/r/{token[:-2]}xx/0/", **BROWSER).status_code == 404
    assert client.get(f"/r/{token}/99/", **BROWSER).status_code == 404
    assert client.post(link).status_code == 405  # only GET and HEAD
    assert not Click.objects.exists()


def test_without_tracking_the_links_point_straight_at_their_targets(
    smtp_server: Any, settings: Any
) -> None:
    settings.MAILING_CLICK_TRACKING = False
    _row, page = _sent_email(smtp_server)
    assert _tracked(page) == []
    assert any("/doneer/?source=" in h for h in _hrefs(page))
