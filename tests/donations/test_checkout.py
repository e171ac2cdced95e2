"""Starting a gift against the fake Stripe server: one Donation and one Checkout Session per
form, the card-testing defence, Stripe errors, and the monthly gift's manage page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from structlog.testing import capture_logs

from devstripe.server import FakeStripe
from donations.models import Donation, DonationStatus, RecurringDonation, RecurringState
from donations.recurring import manage_token
from tests.donations.conftest import donate_data, run_inbox

pytestmark = pytest.mark.django_db

SESSIONS = "/v1/checkout/sessions"


def sessions_created(fake: FakeStripe) -> list[Any]:
    return [r for r in fake.requests_to("POST", SESSIONS) if r.path == SESSIONS]


def test_a_gift_goes_to_checkout_with_our_amount_and_attribution(
    client: Client, fake_stripe: FakeStripe, unique_ip: Callable[[], str]
) -> None:
    ip = unique_ip()
    data = donate_data(
        amount="other", other_amount="12,50", method="card", cover_fee="on",
        email="gever@voorbeeld.nl", name="Sanne", source="tok.signed", utm_source="nieuwsbrief",
    )  # fmt: skip

    response = client.post("/doneer/", data, REMOTE_ADDR=ip)

    donation = Donation.objects.get()
    session = fake_stripe.objects("checkout.session")[0]
    assert response.status_code == 303
    assert response["Location"] == session["url"]
    # €12,50 by card, fee covered: 1.5% (19 ct) + 25 ct = 44 ct, and €12,94's fee is 44 ct too.
    assert (donation.amount, donation.fee_cover) == (1294, 44)
    assert session["amount_total"] == 1294
    assert session["mode"] == "payment"
    assert session["payment_method_types"] == ["card"]
    assert session["locale"] == "nl"
    assert session["success_url"].endswith(
        f"/doneer/bedankt/{donation.uuid}/?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert donation.stripe_checkout_session == session["id"]
    assert (donation.client_ip, donation.source_token) == (ip, "tok.signed")
    assert donation.utm == {"utm_source": "nieuwsbrief"}
    assert (donation.donor_email, donation.news_opt_in) == ("gever@voorbeeld.nl", False)


def test_news_opt_in_starts_the_double_opt_in_with_the_wording_as_evidence(
    client: Client,
    fake_stripe: FakeStripe,
    news_wording: Any,
    unique_ip: Callable[[], str],
    unique_email: Callable[[], str],
) -> None:
    from campaign.models import Consent, Supporter
    from worker.models import OutboxTask

    ip, email = unique_ip(), unique_email()
    data = donate_data(
        email=email, news_opt_in="on", news_text=str(news_wording["en"].pk), utm_source="mail"
    )

    response = client.post("/en/donate/", data, REMOTE_ADDR=ip, HTTP_USER_AGENT="Firefox/140")

    assert response.status_code == 303
    supporter = Supporter.objects.get(email=email)
    consent = Consent.objects.get(supporter=supporter)
    assert supporter.status == Supporter.Status.PENDING  # nothing is sent before confirming
    assert (supporter.language, supporter.utm_source) == ("en", "mail")
    assert (consent.topic, consent.text_id) == ("donor_news", news_wording["en"].pk)
    assert (consent.ip, consent.user_agent, consent.confirmed_at) == (ip, "Firefox/140", None)
    assert Donation.objects.get().supporter_id == supporter.pk
    assert OutboxTask.objects.filter(task_name="campaign.tasks.confirmation_send").exists()


def test_without_the_news_tick_no_supporter_is_made(
    client: Client, fake_stripe: FakeStripe, news_wording: Any
) -> None:
    from campaign.models import Supporter

    client.post("/doneer/", donate_data(email="gever@voorbeeld.nl"))

    assert not Supporter.objects.exists()
    assert Donation.objects.get().supporter_id is None


def test_a_double_submit_makes_one_donation_and_one_session(
    client: Client, fake_stripe: FakeStripe
) -> None:
    data = donate_data(frequency="monthly", method="ideal")

    first = client.post("/en/donate/", data)
    second = client.post("/en/donate/", data)

    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert Donation.objects.count() == 1
    assert RecurringDonation.objects.count() == 1
    assert len(fake_stripe.objects("checkout.session")) == 1
    requests = sessions_created(fake_stripe)
    assert len(requests) == 2
    assert requests[0].idempotency_key == requests[1].idempotency_key
    assert [r.replayed for r in requests] == [False, True]


def test_the_same_form_with_another_amount_is_a_new_gift(
    client: Client, fake_stripe: FakeStripe
) -> None:
    # The donor came back from Checkout, chose another amount and submitted the same form.
    data = donate_data()
    client.post("/doneer/", data)
    client.post("/doneer/", {**data, "amount": "5000"})

    assert sorted(Donation.objects.values_list("amount", flat=True)) == [2500, 5000]
    assert len(fake_stripe.objects("checkout.session")) == 2


def test_rate_limit_per_ip(
    client: Client,
    fake_stripe: FakeStripe,
    settings: Any,
    unique_ip: Callable[[], str],
    unique_email: Callable[[], str],
) -> None:
    settings.DONATIONS_RATE_CHECKOUT_IP = "2/h"  # fixed windows: a minute's could end mid-test
    ip = unique_ip()

    statuses = [
        client.post("/doneer/", donate_data(email=unique_email()), REMOTE_ADDR=ip).status_code
        for _ in range(2)
    ]
    with capture_logs() as logs:
        refused = client.post("/doneer/", donate_data(email=unique_email()), REMOTE_ADDR=ip)
    other_ip = client.post("/doneer/", donate_data(), REMOTE_ADDR=unique_ip())

    assert statuses == [303, 303]
    assert refused.status_code == 429
    assert "Zo beschermen we gevers tegen misbruik" in refused.content.decode()
    assert other_ip.status_code == 303
    assert Donation.objects.count() == 3
    assert {"event": "donations.checkout_blocked", "reason": "rate_limit_ip"}.items() <= logs[
        -1
    ].items()


def test_rate_limit_per_email(
    client: Client,
    fake_stripe: FakeStripe,
    settings: Any,
    unique_ip: Callable[[], str],
    unique_email: Callable[[], str],
) -> None:
    settings.DONATIONS_RATE_CHECKOUT_EMAIL = "2/h"  # fixed windows: a minute's could end mid-test
    email = unique_email()

    statuses = [
        client.post("/doneer/", donate_data(email=email), REMOTE_ADDR=unique_ip()).status_code
        for _ in range(3)
    ]
    # Case does not make it another address.
    shouted = client.post("/doneer/", donate_data(email=email.upper()), REMOTE_ADDR=unique_ip())

    assert statuses == [303, 303, 429]
    assert shouted.status_code == 429
    assert Donation.objects.count() == 2


def test_a_double_click_does_not_spend_the_rate_limit(
    client: Client, fake_stripe: FakeStripe, settings: Any, unique_ip: Callable[[], str]
) -> None:
    settings.DONATIONS_RATE_CHECKOUT_IP = "1/m"
    ip, data = unique_ip(), donate_data()

    assert client.post("/doneer/", data, REMOTE_ADDR=ip).status_code == 303
    assert client.post("/doneer/", data, REMOTE_ADDR=ip).status_code == 303


def test_declines_at_stripe_block_the_address(
    client: Client, fake_stripe: FakeStripe, settings: Any, unique_ip: Callable[[], str]
) -> None:
    """The velocity rule end to end: declined payments -> webhook events -> the inbox marks
    the gifts failed -> the next checkout from that address is refused."""
    settings.DECLINE_BLOCK_THRESHOLD = 2
    ip = unique_ip()
    for _ in range(2):
        client.post("/doneer/", donate_data(method="card"), REMOTE_ADDR=ip)
    for session in fake_stripe.objects("checkout.session"):
        fake_stripe.complete_checkout(session["id"], outcome="failed")

    with capture_logs() as logs:
        run_inbox(fake_stripe)
    refused = client.post("/doneer/", donate_data(), REMOTE_ADDR=ip)

    assert set(Donation.objects.values_list("status", flat=True)) == {DonationStatus.FAILED}
    assert "donations.ip_blocked_after_declines" in [log["event"] for log in logs]
    assert refused.status_code == 429
    assert Donation.objects.count() == 2
    assert len(fake_stripe.objects("checkout.session")) == 2


def test_stripe_unreachable_keeps_the_form_and_charges_nothing(
    client: Client, settings: Any
) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    data = donate_data(amount="other", other_amount="30", name="Sanne Jansen")

    response = client.post("/en/donate/", data)

    html = response.content.decode()
    assert response.status_code == 503
    assert "We could not reach our payment provider. Nothing has been charged." in html
    assert 'value="Sanne Jansen"' in html
    assert 'value="30"' in html
    # A retry gets a new token (Stripe would replay the failure for the old key).
    token = re.search(r'name="form_token" value="([^"]+)"', html)
    assert token is not None
    assert token.group(1) != data["form_token"]


def test_the_thanks_page_follows_the_webhook_not_the_return(
    client: Client, fake_stripe: FakeStripe
) -> None:
    client.post("/en/donate/", donate_data(method="ideal"))
    donation = Donation.objects.get()
    session = fake_stripe.objects("checkout.session")[0]
    thanks = f"/en/donate/thanks/{donation.uuid}/?session_id={session['id']}"

    fake_stripe.complete_checkout(session["id"], outcome="paid")
    before = client.get(thanks).content.decode()
    run_inbox(fake_stripe)
    after = client.get(thanks).content.decode()

    assert "waiting for confirmation from the bank" in before
    assert "has been received" in after
    assert "data-refresh-url" not in after


# --- the manage page against Stripe ----------------------------------------------------------


@pytest.fixture
def monthly_gift(client: Client, fake_stripe: FakeStripe) -> RecurringDonation:
    """A monthly gift of €25 whose first iDEAL payment went through at the fake Stripe."""
    client.post("/en/donate/", donate_data(frequency="monthly", method="ideal"))
    session = fake_stripe.objects("checkout.session")[0]
    fake_stripe.complete_checkout(session["id"], outcome="paid")
    run_inbox(fake_stripe)
    gift = RecurringDonation.objects.get()
    assert gift.state == RecurringState.ACTIVE
    assert gift.stripe_subscription
    return gift


def _manage(client: Client, gift: RecurringDonation, **data: str) -> Any:
    path = f"/en/donate/manage/{manage_token(gift)}/"
    return client.post(path, data, follow=True) if data else client.get(path)


def _subscription(fake: FakeStripe, gift: RecurringDonation) -> Any:
    assert gift.stripe_subscription
    return fake.get(gift.stripe_subscription)


def test_change_the_monthly_amount(
    client: Client, fake_stripe: FakeStripe, monthly_gift: RecurringDonation
) -> None:
    response = _manage(client, monthly_gift, action="amount", amount="40")

    monthly_gift.refresh_from_db()
    price = _subscription(fake_stripe, monthly_gift)["items"]["data"][0]["price"]
    assert response.redirect_chain[0][1] == 303
    assert "Your monthly gift is now €40.00." in response.content.decode()
    assert monthly_gift.amount == 4000
    assert price["unit_amount"] == 4000


def test_pause_resume_and_cancel(
    client: Client, fake_stripe: FakeStripe, monthly_gift: RecurringDonation
) -> None:
    paused = _manage(client, monthly_gift, action="pause")
    monthly_gift.refresh_from_db()
    assert "is paused" in paused.content.decode()
    assert monthly_gift.state == RecurringState.PAUSED
    assert _subscription(fake_stripe, monthly_gift)["pause_collection"]

    resumed = _manage(client, monthly_gift, action="resume")
    monthly_gift.refresh_from_db()
    assert "continues" in resumed.content.decode()
    assert monthly_gift.state == RecurringState.ACTIVE
    assert not _subscription(fake_stripe, monthly_gift)["pause_collection"]

    cancelled = _manage(client, monthly_gift, action="cancel")
    monthly_gift.refresh_from_db()
    assert "has stopped" in cancelled.content.decode()
    assert monthly_gift.state == RecurringState.CANCELLED
    assert _subscription(fake_stripe, monthly_gift)["status"] == "canceled"
    assert "Start a new gift" in _manage(client, monthly_gift).content.decode()


def test_resuming_a_running_gift_is_refused_clearly(
    client: Client, fake_stripe: FakeStripe, monthly_gift: RecurringDonation
) -> None:
    fake_stripe.clear_requests()
    monthly_gift.state = RecurringState.PAST_DUE
    monthly_gift.save()

    response = _manage(client, monthly_gift, action="resume")

    assert response.status_code == 409
    assert "Only a paused monthly gift can be resumed." in response.content.decode()
    assert not fake_stripe.requests_to("POST", "/v1/subscriptions")


def test_stripe_down_during_a_change_changes_nothing(
    client: Client, fake_stripe: FakeStripe, monthly_gift: RecurringDonation, settings: Any
) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"

    response = _manage(client, monthly_gift, action="pause")

    monthly_gift.refresh_from_db()
    assert response.status_code == 503
    assert "nothing has changed" in response.content.decode()
    assert monthly_gift.state == RecurringState.ACTIVE
