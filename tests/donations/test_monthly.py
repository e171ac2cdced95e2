"""A monthly gift's life at Stripe as the donor lives it: the mandate, the pre-debit notice,
failed SEPA debits with friendly dunning until the gift lapses, and a revoked mandate."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import translation

from backoffice.roles import FINANCE
from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain
from donations.models import (
    Donation,
    DonationStatus,
    DonorNotice,
    Frequency,
    Method,
    NoticeKind,
    RecurringDonation,
    RecurringState,
)
from donations.notices import notices_send
from tests.factories import UserFactory
from tests.harness.smtp import SmtpServer
from tests.staff import verified_client

pytestmark = pytest.mark.django_db(transaction=True)
DONOR = "maandelijks@voorbeeld.nl"


def _apply(fake: FakeStripe, smtp: SmtpServer) -> list[str]:
    """Deliver what happened at Stripe (twice: duplicates must change nothing), apply it, send
    the notices it queued; returns the subjects of the emails sent."""
    fake.wait_for_deliveries()
    fake.deliver()
    inbox_drain()
    before = len(smtp.messages)
    notices_send()
    return [str(m.message["Subject"]) for m in smtp.messages[before:]]


def _monthly_checkout(
    fake_stripe: FakeStripe, site_url: str, settings: Any, *, amount: int, method: Method
) -> Donation:
    """Maan's monthly gift up to Stripe's checkout page, its events going to our endpoint."""
    settings.SITE_URL = site_url
    fake_stripe.set_webhook(site_url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=amount,
            frequency=Frequency.MONTHLY,
            method=method,
            email=DONOR,
            name="Maan",
            language="nl",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    return donation


@pytest.fixture
def monthly(fake_stripe: FakeStripe, live_server: Any, settings: Any) -> RecurringDonation:
    donation = _monthly_checkout(
        fake_stripe, live_server.url, settings, amount=1500, method=Method.IDEAL
    )
    fake_stripe.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    return RecurringDonation.objects.get()


def test_first_payment_sets_up_the_mandate_and_next_debit(
    monthly: RecurringDonation, fake_stripe: FakeStripe, smtp_server: SmtpServer
) -> None:
    subjects = _apply(fake_stripe, smtp_server)

    monthly.refresh_from_db()
    mandate = fake_stripe.objects("mandate")[0]
    assert monthly.state == RecurringState.ACTIVE
    assert monthly.stripe_mandate == mandate["id"]
    assert monthly.mandate_reference == mandate["payment_method_details"]["sepa_debit"]["reference"]
    assert monthly.next_payment_at is not None
    assert subjects == ["Dank je wel voor je gift"]


def test_pre_debit_notice_names_amount_date_and_mandate_reference(
    monthly: RecurringDonation, fake_stripe: FakeStripe, smtp_server: SmtpServer
) -> None:
    _apply(fake_stripe, smtp_server)
    monthly.refresh_from_db()

    fake_stripe.announce_upcoming(monthly.stripe_subscription or "")
    subjects = _apply(fake_stripe, smtp_server)

    assert subjects == ["Je maandelijkse gift wordt binnenkort afgeschreven"]
    body = smtp_server.messages[-1].message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "€\u00a015,00" in text
    assert monthly.mandate_reference in text
    assert "/doneer/beheer/" in text  # the donor can change or stop it from here


def test_failed_sepa_debits_are_dunned_then_the_gift_lapses(
    monthly: RecurringDonation, fake_stripe: FakeStripe, smtp_server: SmtpServer, settings: Any
) -> None:
    settings.DUNNING_MAX_ATTEMPTS = 3
    _apply(fake_stripe, smtp_server)
    monthly.refresh_from_db()
    subscription = monthly.stripe_subscription or ""

    fake_stripe.renew(subscription, succeed=False)
    first = _apply(fake_stripe, smtp_server)
    monthly.refresh_from_db()
    assert (monthly.state, monthly.failed_payments) == (RecurringState.PAST_DUE, 1)

    fake_stripe.renew(subscription, succeed=False)
    second = _apply(fake_stripe, smtp_server)
    fake_stripe.renew(subscription, succeed=False)
    last = _apply(fake_stripe, smtp_server)

    monthly.refresh_from_db()
    assert first == second == ["Je maandelijkse gift kon niet worden afgeschreven"]
    assert last == ["Je maandelijkse gift is gestopt"]
    assert (monthly.state, monthly.failed_payments) == (RecurringState.LAPSED, 3)
    assert fake_stripe.get(subscription)["status"] == "canceled"
    assert Donation.objects.filter(recurring=monthly, status="failed").count() == 3
    # Stripe's cancellation event afterwards does not turn "lapsed" into "cancelled".
    assert _apply(fake_stripe, smtp_server) == []
    monthly.refresh_from_db()
    assert monthly.state == RecurringState.LAPSED


def test_a_paid_month_resets_the_dunning_count(
    monthly: RecurringDonation, fake_stripe: FakeStripe, smtp_server: SmtpServer, settings: Any
) -> None:
    settings.DUNNING_MAX_ATTEMPTS = 2
    _apply(fake_stripe, smtp_server)
    monthly.refresh_from_db()
    subscription = monthly.stripe_subscription or ""

    fake_stripe.renew(subscription, succeed=False)
    _apply(fake_stripe, smtp_server)
    fake_stripe.renew(subscription, succeed=True)
    _apply(fake_stripe, smtp_server)
    fake_stripe.renew(subscription, succeed=False)
    _apply(fake_stripe, smtp_server)

    monthly.refresh_from_db()
    assert (monthly.state, monthly.failed_payments) == (RecurringState.PAST_DUE, 1)


def test_a_revoked_mandate_ends_the_gift_with_a_notice(
    monthly: RecurringDonation, fake_stripe: FakeStripe, smtp_server: SmtpServer
) -> None:
    _apply(fake_stripe, smtp_server)
    monthly.refresh_from_db()

    fake_stripe.revoke_mandate(monthly.stripe_mandate)
    subjects = _apply(fake_stripe, smtp_server)

    monthly.refresh_from_db()
    assert monthly.state == RecurringState.CANCELLED
    assert fake_stripe.get(monthly.stripe_subscription or "")["status"] == "canceled"
    assert subjects == ["Je maandelijkse gift is beëindigd"]
    assert DonorNotice.objects.filter(kind=NoticeKind.MANDATE_REVOKED).count() == 1


def test_a_monthly_gift_started_by_sepa_direct_debit_is_paid_once_the_debit_clears(
    fake_stripe: FakeStripe, live_server: Any, settings: Any, smtp_server: SmtpServer
) -> None:
    """The donate page offers SEPA Direct Debit for the first payment too: processing first
    (no thanks yet), then the debit clears and the gift runs under that mandate."""
    settings.SITE_URL = live_server.url
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=1000,
            frequency=Frequency.MONTHLY,
            method=Method.SEPA_DEBIT,
            email=DONOR,
            name="Maan",
            language="nl",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    fake_stripe.complete_checkout(donation.stripe_checkout_session, "processing", "sepa_debit")

    assert _apply(fake_stripe, smtp_server) == []
    donation.refresh_from_db()
    assert donation.status == "processing"  # not paid, not thanked yet

    payment_intent = fake_stripe.objects("payment_intent")[0]
    fake_stripe.settle(payment_intent["id"])
    subjects = _apply(fake_stripe, smtp_server)

    donation.refresh_from_db()
    gift = RecurringDonation.objects.get()
    mandate = fake_stripe.objects("mandate")[0]
    assert donation.status == "paid"
    assert donation.method == Method.SEPA_DEBIT
    assert gift.state == RecurringState.ACTIVE
    assert gift.stripe_mandate == mandate["id"]
    assert subjects == ["Dank je wel voor je gift"]


def test_a_sepa_monthly_gift_shows_processing_from_its_checkout_event_alone(
    fake_stripe: FakeStripe, live_server: Any, settings: Any, smtp_server: SmtpServer
) -> None:
    """Checkout completes "unpaid" for a delayed debit. Its event alone (the payment's own
    events late, out of order, or never sent to this endpoint) makes the first payment
    processing, on the thank-you page and in the back office; the debit clearing pays it."""
    fake_stripe.auto_deliver = False
    donation = _monthly_checkout(
        fake_stripe, live_server.url, settings, amount=1250, method=Method.SEPA_DEBIT
    )
    fake_stripe.complete_checkout(donation.stripe_checkout_session, "processing", "sepa_debit")

    completed = fake_stripe.events("checkout.session.completed")
    assert [e["data"]["object"]["payment_status"] for e in completed] == ["unpaid"]
    assert fake_stripe.deliver(completed) == [200]  # signed, through the real endpoint
    inbox_drain()
    donation.refresh_from_db()
    assert donation.status == DonationStatus.PROCESSING
    assert donation.stripe_invoice == fake_stripe.objects("invoice")[0]["id"]
    assert notices_send() == 0  # nothing to thank for yet

    dutch = {"HTTP_ACCEPT_LANGUAGE": "nl"}
    # reverse() gives the active language's URL, and a request of an earlier test in this
    # thread may have left English active: the donor's page is the Dutch one.
    with translation.override("nl"):
        thanks_url = reverse("donations:thanks", args=[donation.uuid])
    thanks = Client().get(thanks_url, **dutch)
    page = thanks.content.decode()
    assert 'class="status status-processing"' in page
    assert "Je betaling van €\xa012,50 wordt door de bank verwerkt" in page
    staff = UserFactory()
    staff.groups.add(Group.objects.get(name=FINANCE))
    listing = verified_client(staff).get(f"/{settings.ADMIN_PATH}donations/donation/", **dutch)
    row = listing.content.decode().split("€\xa012,50")[1].split("</tr>")[0]
    assert "in behandeling" in row

    # The rest of the first payment's events, then the bank's answer: paid, thanked once.
    fake_stripe.deliver([e for e in fake_stripe.events() if e not in completed])
    fake_stripe.settle(fake_stripe.objects("payment_intent")[0]["id"])
    assert _apply(fake_stripe, smtp_server) == ["Dank je wel voor je gift"]
    donation.refresh_from_db()
    assert donation.status == DonationStatus.PAID
    assert RecurringDonation.objects.get().state == RecurringState.ACTIVE
