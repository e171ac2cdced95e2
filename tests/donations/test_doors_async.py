"""Doors past the payment intent: legacy charges (the Charges API, no payment intent) and
outside payments whose bank answers later (SEPA from the dashboard or a Payment Link).

A legacy charge is a full gift, booked once whatever order its events come in, and never a
second time for a charge that has a payment intent. An outside debit is a donation from the
moment it is processing, moved on by the bank's answer; only a succeeded one is thanked."""

from __future__ import annotations

from typing import Any

import pytest

from devstripe.server import FakeStripe
from donations.inbox import inbox_drain
from donations.models import (
    Channel,
    Donation,
    DonationStatus,
    DonorNotice,
    EventStatus,
    NoticeKind,
    StripeEvent,
    Transaction,
    TransactionKind,
)
from donations.reconcile import reconcile_stripe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stripe_world(fake_stripe: FakeStripe, live_server: Any, settings: Any) -> FakeStripe:
    """The fake account posting to our webhook only when the test says so (deliver())."""
    settings.SITE_URL = live_server.url
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    fake_stripe.auto_deliver = False
    return fake_stripe


def _deliver(fake: FakeStripe, events: list[Any] | None = None, *, reverse: bool = False) -> None:
    """The events (default: all so far) reach the webhook twice, shuffled or newest first,
    and the inbox applies them."""
    events = fake.events() if events is None else events
    if reverse:
        statuses = fake.deliver(list(reversed(events)), times=2)
    else:
        statuses = fake.deliver(events, times=2, shuffle=True)
    assert set(statuses) == {200}
    inbox_drain()


def _rows(donation: Donation) -> list[tuple[str, int]]:
    return sorted(
        Transaction.objects.filter(donation=donation).values_list("kind", "amount"),
    )


def _thanks(donation: Donation) -> int:
    return DonorNotice.objects.filter(kind=NoticeKind.THANKS, donation=donation).count()


# --- legacy charges ------------------------------------------------------------------------------


def test_a_legacy_charge_is_a_full_gift_thanked_once(stripe_world: FakeStripe) -> None:
    charge = stripe_world.legacy_charge(amount=4200, email="oud@voorbeeld.nl", name="Otto Oud")

    _deliver(stripe_world)
    _deliver(stripe_world)  # every event once more: nothing changes

    donation = Donation.objects.get()
    assert (donation.donor_name, donation.donor_email) == ("Otto Oud", "oud@voorbeeld.nl")
    assert (donation.amount, donation.method, donation.frequency) == (4200, "card", "one_off")
    assert (donation.channel, donation.status) == (Channel.DASHBOARD, DonationStatus.PAID)
    assert donation.stripe_payment_intent == ""
    # The fake's card fee: 1.5% + €0.25 (devstripe/README.md).
    gift = Transaction.objects.get()
    assert (gift.kind, gift.amount, gift.fee, gift.stripe_charge) == (
        "gift",
        4200,
        88,
        charge["id"],
    )
    assert gift.donation_id == donation.pk
    assert _thanks(donation) == 1


def test_a_legacy_charge_refunded_before_its_success_arrives_is_booked_once(
    stripe_world: FakeStripe,
) -> None:
    charge = stripe_world.legacy_charge(amount=3000, email="terug@voorbeeld.nl", name="Tess Terug")
    stripe_world.refund(charge["id"], amount=1000)

    _deliver(stripe_world, reverse=True)  # charge.refunded first

    donation = Donation.objects.get()
    assert _rows(donation) == [("gift", 3000), ("refund", -1000)]
    assert donation.status == DonationStatus.PARTIALLY_REFUNDED
    assert Transaction.objects.filter(donation__isnull=True).count() == 0
    assert _thanks(donation) == 1


def test_a_disputed_legacy_charge_finds_its_gift(stripe_world: FakeStripe) -> None:
    charge = stripe_world.legacy_charge(amount=2500, email="twist@voorbeeld.nl", name="Tim Twist")
    stripe_world.dispute(charge["id"])

    _deliver(stripe_world, reverse=True)

    donation = Donation.objects.get()
    assert _rows(donation) == [("dispute", -2500), ("gift", 2500)]
    assert donation.status == DonationStatus.DISPUTED


def test_a_legacy_charge_the_webhook_missed_is_booked_by_reconcile(
    stripe_world: FakeStripe,
) -> None:
    stripe_world.legacy_charge(amount=1800, email="gemist@voorbeeld.nl", name="Gijs Gemist")

    reconcile_stripe()
    inbox_drain()

    donation = Donation.objects.get()
    assert (donation.amount, donation.status, donation.channel) == (
        1800,
        DonationStatus.PAID,
        Channel.DASHBOARD,
    )
    assert _rows(donation) == [("gift", 1800)]


def test_a_charge_with_a_payment_intent_is_booked_through_the_intent_only(
    stripe_world: FakeStripe,
) -> None:
    intent = stripe_world.dashboard_payment(
        amount=2000, email="modern@voorbeeld.nl", name="Mo Modern", method="card"
    )

    _deliver(stripe_world)

    donation = Donation.objects.get()
    assert donation.stripe_payment_intent == intent["id"]
    assert _rows(donation) == [("gift", 2000)]
    assert _thanks(donation) == 1
    # Its charge.succeeded is kept for the record, with no work queued.
    [event] = StripeEvent.objects.filter(type="charge.succeeded")
    assert event.status == EventStatus.IGNORED


# --- outside debits the bank answers later -------------------------------------------------------


def test_a_dashboard_debit_is_processing_until_the_bank_pays_then_thanked(
    stripe_world: FakeStripe,
) -> None:
    intent = stripe_world.dashboard_payment(
        amount=5000, email="bank@voorbeeld.nl", name="Bea Bank", method="sepa_debit", settle=False
    )

    _deliver(stripe_world)

    donation = Donation.objects.get()
    assert (donation.status, donation.method, donation.channel) == (
        DonationStatus.PROCESSING,
        "sepa_debit",
        Channel.DASHBOARD,
    )
    assert (donation.donor_email, donation.amount) == ("bank@voorbeeld.nl", 5000)
    assert _rows(donation) == []
    assert _thanks(donation) == 0

    before = len(stripe_world.events())
    stripe_world.settle(intent["id"], succeed=True)
    _deliver(stripe_world, stripe_world.events()[before:])

    donation.refresh_from_db()
    assert donation.status == DonationStatus.PAID
    assert _rows(donation) == [("gift", 5000)]
    assert _thanks(donation) == 1
    assert Donation.objects.count() == 1


def test_a_dashboard_debit_the_bank_refuses_ends_failed_unthanked(
    stripe_world: FakeStripe,
) -> None:
    intent = stripe_world.dashboard_payment(
        amount=3500, email="weg@voorbeeld.nl", name="Wim Weg", method="sepa_debit", settle=False
    )
    _deliver(stripe_world)
    before = len(stripe_world.events())

    stripe_world.settle(intent["id"], succeed=False)
    _deliver(stripe_world, stripe_world.events()[before:])

    donation = Donation.objects.get()
    assert (donation.status, donation.donor_email) == (DonationStatus.FAILED, "weg@voorbeeld.nl")
    assert _rows(donation) == []
    assert _thanks(donation) == 0


def test_a_failed_debit_whose_processing_never_reached_us_is_a_failed_donation(
    stripe_world: FakeStripe,
) -> None:
    intent = stripe_world.dashboard_payment(
        amount=1200, email="stil@voorbeeld.nl", name="Sam Stil", method="sepa_debit", settle=False
    )
    before = len(stripe_world.events())  # these are never delivered
    stripe_world.settle(intent["id"], succeed=False)

    _deliver(stripe_world, stripe_world.events()[before:])

    donation = Donation.objects.get()
    assert (donation.status, donation.method, donation.amount) == (
        DonationStatus.FAILED,
        "sepa_debit",
        1200,
    )
    assert donation.donor_email == "stil@voorbeeld.nl"
    assert _thanks(donation) == 0


def test_a_payment_link_debit_is_processing_then_failed(stripe_world: FakeStripe) -> None:
    session = stripe_world.payment_link_pay(
        amount=2500,
        email="link@voorbeeld.nl",
        name="Lieke Link",
        method="sepa_debit",
        outcome="processing",
    )
    _deliver(stripe_world)

    donation = Donation.objects.get()
    assert (donation.status, donation.channel) == (
        DonationStatus.PROCESSING,
        Channel.PAYMENT_LINK,
    )
    before = len(stripe_world.events())
    intent = stripe_world.get(session["id"])["payment_intent"]
    stripe_world.settle(intent, succeed=False)
    _deliver(stripe_world, stripe_world.events()[before:])

    donation.refresh_from_db()
    assert donation.status == DonationStatus.FAILED
    assert _thanks(donation) == 0
    assert not Transaction.objects.filter(kind=TransactionKind.GIFT).exists()
