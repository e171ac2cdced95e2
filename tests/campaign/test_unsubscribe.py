"""One-click unsubscribe (RFC 8058): a POST unsubscribes without login, cookie or CSRF token;
a GET (a person, or a mail scanner) only shows a button."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from django.test import Client

from campaign import events
from campaign.emails import list_unsubscribe_headers, supporter_link_token
from campaign.models import Consent, Supporter, SupporterAudit
from campaign.selectors import supporter_may_receive, supporters_may_receive
from tests.factories import ConsentFactory, SupporterFactory

pytestmark = pytest.mark.usefixtures("consent_texts")


@pytest.fixture
def supporter(consent_texts: dict[str, Any]) -> Supporter:
    person = SupporterFactory(language="en")
    for topic in ("stories", "appeals", "donor_news"):
        ConsentFactory(supporter=person, topic=topic, text=consent_texts["en"][topic])
    return person


@pytest.fixture
def mail_client() -> Client:
    """What a mail client is: no cookies, no CSRF token, and CSRF checks switched on."""
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
def test_a_one_click_post_without_cookies_unsubscribes_at_once(
    mail_client: Client, supporter: Supporter, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/u/{supporter_link_token(supporter)}/"
    received: list[dict[str, Any]] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    events.supporter_unsubscribed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = mail_client.post(
                url,
                "List-Unsubscribe=One-Click",
                content_type="application/x-www-form-urlencoded",
            )
    finally:
        events.supporter_unsubscribed.disconnect(listener)

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert not mail_client.cookies
    # The send-time check sees it immediately: no cache in between.
    for topic in ("stories", "appeals", "donor_news"):
        assert not supporter_may_receive(supporter.pk, topic)
    assert supporters_may_receive([supporter.pk], "stories") == set()
    withdrawn = Consent.objects.filter(supporter=supporter)
    assert {c.withdrawn_method for c in withdrawn} == {Consent.Method.ONE_CLICK}
    audit = SupporterAudit.objects.get(supporter=supporter)
    assert (audit.action, audit.method) == (SupporterAudit.Action.UNSUBSCRIBED, "one_click")
    assert received == [
        {
            "signal": events.supporter_unsubscribed,
            "supporter_id": supporter.pk,
            "method": "one_click",
        }
    ]


@pytest.mark.django_db
def test_a_multipart_one_click_post_works_too(mail_client: Client, supporter: Supporter) -> None:
    response = mail_client.post(
        f"/u/{supporter_link_token(supporter)}/", {"List-Unsubscribe": "One-Click"}
    )

    assert response.status_code == 200
    assert not supporter_may_receive(supporter.pk, "stories")


@pytest.mark.django_db
def test_a_get_never_unsubscribes_and_offers_the_button(
    mail_client: Client, supporter: Supporter
) -> None:
    token = supporter_link_token(supporter)

    for _ in range(3):  # scanners fetch links more than once
        response = mail_client.get(f"/u/{token}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html  # the supporter's language
    assert f'<form method="post" action="/u/{token}/">' in html
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in html
    assert "csrfmiddlewaretoken" not in html
    assert supporter_may_receive(supporter.pk, "stories")
    assert SupporterAudit.objects.count() == 0


@pytest.mark.django_db
def test_a_post_without_the_one_click_body_changes_nothing(
    mail_client: Client, supporter: Supporter
) -> None:
    response = mail_client.post(f"/u/{supporter_link_token(supporter)}/", {"List-Unsubscribe": "x"})

    assert response.status_code == 400
    assert supporter_may_receive(supporter.pk, "stories")


@pytest.mark.django_db
def test_repeating_it_is_harmless(mail_client: Client, supporter: Supporter) -> None:
    url = f"/u/{supporter_link_token(supporter)}/"
    for _ in range(3):
        assert mail_client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200

    assert SupporterAudit.objects.filter(action=SupporterAudit.Action.UNSUBSCRIBED).count() == 1


@pytest.mark.django_db
def test_forged_links_unsubscribe_nobody(mail_client: Client, supporter: Supporter) -> None:
    token = supporter_link_token(supporter)
    forged = token.replace(f"{supporter.pk}.", f"{supporter.pk + 1}.", 1)

    response = mail_client.post(f"/u/{forged}/", {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 404
    assert supporter_may_receive(supporter.pk, "stories")


@pytest.mark.django_db
def test_the_headers_every_email_carries(supporter: Supporter, settings: Any) -> None:
    settings.SITE_URL = "https://savethesurvivors.example"
    settings.SUPPORTERS_UNSUBSCRIBE_MAILTO = "afmelden@savethechildren.example"

    headers = list_unsubscribe_headers(supporter)

    token = supporter_link_token(supporter)
    subject = "unsubscribe%20" + token.replace(":", "%3A")
    assert headers["List-Unsubscribe"] == (
        f"<https://savethesurvivors.example/u/{token}/>, "
        f"<mailto:afmelden@savethechildren.example?subject={subject}>"
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.django_db(transaction=True)
def test_over_real_http_with_no_cookies(live_server: Any, consent_texts: dict[str, Any]) -> None:
    person = SupporterFactory()
    ConsentFactory(supporter=person, topic="stories", text=consent_texts["nl"]["stories"])
    url = f"{live_server.url}/u/{supporter_link_token(person)}/"

    scanned = urllib.request.urlopen(url, timeout=10)  # what a link scanner does
    assert scanned.status == 200
    assert supporter_may_receive(person.pk, "stories")

    request = urllib.request.Request(
        url,
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert not supporter_may_receive(person.pk, "stories")
