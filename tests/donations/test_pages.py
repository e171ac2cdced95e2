"""The donate page, the thank-you page and the manage page, without Stripe in the loop."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.core import signing
from django.test import Client
from structlog.testing import capture_logs

from donations import recurring as recurring_services
from donations.models import (
    Donation,
    DonationStatus,
    Frequency,
    RecurringDonation,
    RecurringState,
)
from tests.donations.conftest import donate_data
from tests.factories import StoryFactory

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    """The page with no-break spaces as plain ones ("€ 25,00" reads the same in both)."""
    return str(response.content.decode()).replace("\xa0", " ").replace("&nbsp;", " ")


# --- donate page ------------------------------------------------------------------------------


def test_donate_page_in_dutch_and_english(client: Client) -> None:
    nl = client.get("/doneer/")
    en = client.get("/en/donate/")

    assert nl.status_code == en.status_code == 200
    assert '<html lang="nl">' in text(nl)
    assert "Doneer" in text(nl)
    assert '<html lang="en">' in text(en)
    assert "Continue to payment" in text(en)
    # Each language's switch points at the other language's donate page.
    assert 'href="/en/donate/"' in text(nl)


def test_donate_page_offers_presets_methods_and_unticked_news(client: Client) -> None:
    html = text(client.get("/en/donate/"))

    for cents in ("1000", "2500", "5000", "10000"):
        assert f'name="amount" value="{cents}"' in html
    assert re.search(r'name="amount" value="2500"[^>]*checked', html)
    for method in ("ideal", "card", "bancontact"):
        assert f'name="method" value="{method}"' in html
    assert re.search(r'<input type="checkbox" name="news_opt_in"[^>]*>', html)
    assert not re.search(r'name="news_opt_in"[^>]*checked', html)
    assert re.search(r'name="form_token" value="[A-Za-z0-9_-]{43}"', html)


def test_fee_extras_are_in_the_label_for_every_method(client: Client) -> None:
    html = text(client.get("/doneer/"))

    # €25 by default: iDEAL €0,29, card €0,63, Bancontact €0,61, monthly (SEPA) €0,35.
    label = re.search(r'<label for="id_cover_fee">(.*?)</label>', html, re.S)
    assert label is not None
    words = re.sub(r"<[^>]+>", "", label.group(1))
    for extra in ("€ 0,29", "€ 0,63", "€ 0,61", "€ 0,35"):
        assert extra in words


def test_fee_extras_follow_the_amount_when_the_form_comes_back(
    client: Client, news_wording: Any
) -> None:
    response = client.post(
        "/en/donate/",
        donate_data(
            amount="other", other_amount="100", method="card", frequency="monthly", news_opt_in="on"
        ),
    )

    html = text(response)
    assert "Fill in your email address" in html
    # €100 by card: 1.5% + 25 ct = €1.75, covered: €1.78.
    assert "€1.78" in html


def test_news_checkbox_shows_the_campaigns_consent_wording(
    client: Client, news_wording: Any
) -> None:
    html = text(client.get("/doneer/"))

    label = re.search(r'<label for="id_news_opt_in">(.*?)</label>', html, re.S)
    assert label is not None
    assert label.group(1) == news_wording["nl"].text
    assert f'name="news_text" value="{news_wording["nl"].pk}"' in html


def test_donate_page_has_no_inline_script_or_style(client: Client) -> None:
    response = client.get("/doneer/")

    html = text(response)
    assert "<script>" not in html
    assert "<style" not in html
    assert " style=" not in html
    assert 'src="/static/donations/donate.js"' in html
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "no-cache" in response.headers["Cache-Control"]


def test_attribution_from_the_link_travels_in_the_form(client: Client) -> None:
    html = text(client.get("/doneer/?source=signed.token&utm_source=mail&utm_campaign=kerst"))

    assert 'name="source" value="signed.token"' in html
    assert 'name="utm_source" value="mail"' in html
    assert 'name="utm_campaign" value="kerst"' in html


def test_stories_and_landing_link_to_the_donate_page(client: Client) -> None:
    story = StoryFactory()

    assert 'href="/doneer/"' in text(client.get(f"/verhalen/{story.slug}/"))
    assert 'href="/en/donate/"' in text(client.get(f"/en/stories/{story.slug}/"))
    assert 'href="/doneer/"' in text(client.get("/"))


def test_an_invalid_amount_stores_nothing_and_keeps_what_was_typed(client: Client) -> None:
    response = client.post(
        "/doneer/", donate_data(amount="other", other_amount="2", name="Sanne Jansen")
    )

    html = text(response)
    assert response.status_code == 200
    assert "Het kleinste bedrag dat we kunnen aannemen is € 5,00." in html
    assert 'value="Sanne Jansen"' in html
    assert not Donation.objects.exists()


def test_the_honeypot_gets_a_polite_page_and_stores_nothing(client: Client) -> None:
    with capture_logs() as logs:
        response = client.post("/doneer/", donate_data(website="http://cheap.example"))

    assert response.status_code == 200
    assert "Bedankt" in text(response)
    assert not Donation.objects.exists()
    assert not RecurringDonation.objects.exists()
    assert {"event": "donations.checkout_blocked", "reason": "honeypot"}.items() <= logs[-1].items()


def _failed(ip: str, count: int, *, age_seconds: int = 0) -> None:
    for _ in range(count):
        donation = Donation.objects.create(
            amount=500, frequency=Frequency.ONE_OFF, status=DonationStatus.FAILED, client_ip=ip
        )
        if age_seconds:
            created = donation.created_at.timestamp() - age_seconds
            Donation.objects.filter(pk=donation.pk).update(
                created_at=donation.created_at.fromtimestamp(created, tz=donation.created_at.tzinfo)
            )


def test_an_ip_with_repeated_declines_is_refused_politely(
    client: Client, settings: Any, unique_ip: Callable[[], str]
) -> None:
    settings.DECLINE_BLOCK_THRESHOLD = 3
    ip = unique_ip()
    _failed(ip, 3)

    with capture_logs() as logs:
        response = client.post("/en/donate/", donate_data(), REMOTE_ADDR=ip)

    assert response.status_code == 429
    assert "cannot start another payment from your connection" in text(response)
    assert Donation.objects.count() == 3
    assert {"reason": "ip_declines", "ip": ip}.items() <= logs[-1].items()


def test_declines_outside_the_window_or_from_elsewhere_do_not_block(
    settings: Any, unique_ip: Callable[[], str]
) -> None:
    from donations.defence import ip_blocked

    settings.DECLINE_BLOCK_THRESHOLD = 3
    settings.DECLINE_BLOCK_WINDOW_SECONDS = 600
    old, near = unique_ip(), unique_ip()
    _failed(old, 3, age_seconds=601)
    _failed(near, 2)

    assert not ip_blocked(old)
    assert not ip_blocked(near)
    _failed(near, 1)
    assert ip_blocked(near)


def test_reaching_the_threshold_is_logged_once(settings: Any, unique_ip: Callable[[], str]) -> None:
    from donations.defence import decline_recorded

    settings.DECLINE_BLOCK_THRESHOLD = 2
    ip = unique_ip()
    _failed(ip, 1)
    with capture_logs() as logs:
        decline_recorded(Donation.objects.filter(client_ip=ip).first())  # type: ignore[arg-type]
        _failed(ip, 1)
        decline_recorded(Donation.objects.filter(client_ip=ip).first())  # type: ignore[arg-type]

    assert [log["event"] for log in logs] == ["donations.ip_blocked_after_declines"]


# --- thank-you page ---------------------------------------------------------------------------


def _donation(**fields: Any) -> Donation:
    values: dict[str, Any] = {"amount": 2500, "frequency": Frequency.ONE_OFF}
    values.update(fields)
    return Donation.objects.create(**values)


@pytest.mark.parametrize(
    ("status", "expected", "refreshes"),
    [
        (DonationStatus.PENDING, "We are waiting for confirmation from the bank", True),
        (DonationStatus.PROCESSING, "is being processed by the bank", False),
        (DonationStatus.FAILED, "Your payment did not go through", False),
        (DonationStatus.PAID, "Your gift of €25.00 has been received.", False),
        (DonationStatus.REFUNDED, "This gift has been refunded.", False),
    ],
)
def test_thanks_page_shows_the_status_from_our_database(
    client: Client, status: str, expected: str, refreshes: bool
) -> None:
    donation = _donation(status=status)

    # The query string claims success; only the database counts.
    response = client.get(
        f"/en/donate/thanks/{donation.uuid}/?session_id=cs_test_x&status=paid&redirect_status=succeeded"
    )

    html = text(response)
    assert response.status_code == 200
    assert expected in html
    assert ("data-refresh-url" in html) is refreshes
    assert "no-cache" in response.headers["Cache-Control"]


def test_thanks_page_in_dutch_with_a_retry_link_after_a_failure(client: Client) -> None:
    donation = _donation(status=DonationStatus.FAILED, amount=1250, method="card")

    html = text(client.get(f"/doneer/bedankt/{donation.uuid}/"))

    assert "Je betaling is niet gelukt" in html
    retry = re.search(r'href="(/doneer/\?retry=[^"]+)"', html)
    assert retry is not None
    again = text(client.get(retry.group(1).replace("&amp;", "&")))
    assert 'name="other_amount"' in again
    assert 'value="12,50"' in again
    assert re.search(r'name="method" value="card"[^>]*checked', again)


def test_back_from_a_cancelled_checkout_the_gift_is_still_filled_in(client: Client) -> None:
    gift = RecurringDonation.objects.create(amount=5035)
    donation = _donation(
        amount=5035, fee_cover=35, frequency=Frequency.MONTHLY, recurring=gift,
        donor_email="prive@voorbeeld.nl", source_token="tok.mail", utm={"utm_source": "mail"},
    )  # fmt: skip

    html = text(client.get(f"/en/donate/?cancelled={donation.uuid}"))

    assert "You cancelled the payment. Nothing has been charged." in html
    assert re.search(r'name="amount" value="5000"[^>]*checked', html)
    assert re.search(r'name="frequency" value="monthly"[^>]*checked', html)
    assert re.search(r'name="cover_fee"[^>]*checked', html)
    assert 'name="source" value="tok.mail"' in html
    assert "prive@voorbeeld.nl" not in html  # the uuid is in a URL: no personal data


def test_pending_refresh_stops_after_a_while(client: Client) -> None:
    donation = _donation()

    first = text(client.get(f"/doneer/bedankt/{donation.uuid}/?session_id=cs_1"))
    last = text(client.get(f"/doneer/bedankt/{donation.uuid}/?check=40"))

    assert 'data-refresh-url="/doneer/bedankt/' in first
    assert "check=1" in first
    assert "data-refresh-url" not in last


def test_monthly_thanks_says_the_gift_started(client: Client) -> None:
    gift = RecurringDonation.objects.create(amount=2535)
    donation = _donation(
        amount=2535, frequency=Frequency.MONTHLY, recurring=gift, status=DonationStatus.PAID
    )

    html = text(client.get(f"/en/donate/thanks/{donation.uuid}/"))

    assert "Your monthly gift of €25.35 has started." in html


def test_thanks_for_an_unknown_gift_is_404(client: Client) -> None:
    assert client.get(f"/doneer/bedankt/{uuid.uuid4()}/").status_code == 404


# --- manage page: links -----------------------------------------------------------------------


def _gift(**fields: Any) -> RecurringDonation:
    values: dict[str, Any] = {
        "amount": 2500,
        "state": RecurringState.ACTIVE,
        "stripe_subscription": f"sub_{uuid.uuid4().hex[:14]}",
    }
    values.update(fields)
    return RecurringDonation.objects.create(**values)


def _manage_path(gift: RecurringDonation, language: str = "en") -> str:
    token = recurring_services.manage_token(gift)
    return f"/en/donate/manage/{token}/" if language == "en" else f"/doneer/beheer/{token}/"


def test_manage_link_from_the_email_works_in_both_languages(client: Client) -> None:
    gift = _gift()

    en = client.get(_manage_path(gift))
    nl = client.get(_manage_path(gift, "nl"))

    assert en.status_code == nl.status_code == 200
    assert "€25.00 a month" in text(en)
    assert "Pause my monthly gift" in text(en)
    assert "€ 25,00 per maand" in text(nl)


def test_a_tampered_link_changes_nothing(client: Client) -> None:
    gift = _gift()
    token = recurring_services.manage_token(gift)
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")

    page = client.get(f"/en/donate/manage/{tampered}/")
    post = client.post(f"/en/donate/manage/{tampered}/", {"action": "cancel"})

    assert page.status_code == post.status_code == 400
    assert "This link does not work" in text(page)
    gift.refresh_from_db()
    assert gift.state == RecurringState.ACTIVE


def test_an_expired_link_says_so(client: Client, settings: Any) -> None:
    gift = _gift()
    long_ago = time.time() - (settings.RECURRING_LINK_MAX_AGE_DAYS * 86400 + 60)
    with mock.patch("django.core.signing.time.time", return_value=long_ago):
        token = recurring_services.manage_token(gift)

    response = client.post(f"/doneer/beheer/{token}/", {"action": "pause"})

    assert response.status_code == 400
    assert "Deze link is verlopen" in text(response)
    gift.refresh_from_db()
    assert gift.state == RecurringState.ACTIVE


def test_a_genuine_link_to_a_gift_that_is_gone_is_404(client: Client) -> None:
    token = signing.dumps(str(uuid.uuid4()), salt="donations.recurring.manage", compress=True)

    assert client.get(f"/en/donate/manage/{token}/").status_code == 404


def test_manage_forms_need_the_csrf_token(unique_ip: Callable[[], str]) -> None:
    gift = _gift()
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(_manage_path(gift), {"action": "cancel"})

    assert response.status_code == 403
    gift.refresh_from_db()
    assert gift.state == RecurringState.ACTIVE


def test_a_gift_not_started_yet_cannot_be_paused(client: Client) -> None:
    gift = _gift(state=RecurringState.PENDING, stripe_subscription=None)

    page = text(client.get(_manage_path(gift)))
    response = client.post(_manage_path(gift), {"action": "pause"})

    assert "starts once your first payment has been confirmed" in page
    assert response.status_code == 409
    assert "has not started yet" in text(response)


def test_an_ended_gift_offers_a_new_one_not_changes(client: Client) -> None:
    gift = _gift(state=RecurringState.CANCELLED)

    page = text(client.get(_manage_path(gift)))
    response = client.post(_manage_path(gift), {"action": "resume"})

    assert "Pause my monthly gift" not in page
    assert "Start a new gift" in page
    assert response.status_code == 409
    assert "has ended" in text(response)


def test_an_invalid_new_amount_is_explained(client: Client) -> None:
    gift = _gift()

    response = client.post(_manage_path(gift), {"action": "amount", "amount": "1"})

    assert response.status_code == 200
    assert "The smallest gift we can accept is €5.00." in text(response)
    gift.refresh_from_db()
    assert gift.amount == 2500
