"""A drain batch reads its gifts' charges a page at a time (donations.charge_reads) instead of
re-reading every payment intent: Stripe limits reads to 25 a second per endpoint, so a storm
of gifts re-read one by one would wait on Stripe, not on us. The books stay what Stripe says."""

from __future__ import annotations

import uuid

import pytest

from devstripe.methods import DAY
from devstripe.server import FakeStripe
from donations import charge_reads, checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain, stripe_event_receive
from donations.models import (
    Donation,
    DonationStatus,
    DonorNotice,
    Frequency,
    Method,
    Transaction,
    TransactionKind,
)

pytestmark = pytest.mark.django_db(transaction=True)
METHODS = [Method.IDEAL, Method.CARD, Method.BANCONTACT]


@pytest.fixture(autouse=True)
def _nothing_read_ahead_yet() -> None:
    charge_reads._known.clear()  # what an earlier test's batches read stays in this process


def _gift(fake: FakeStripe, method: Method, amount: int) -> Donation:
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=amount,
            frequency=Frequency.ONE_OFF,
            method=method,
            email=f"gever-{uuid.uuid4().hex[:8]}@voorbeeld.nl",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    return donation


def _store_events(fake: FakeStripe) -> None:
    for event in fake.events():
        stripe_event_receive(event=event, via="webhook")


def _assert_booked_as_stripe_says(fake: FakeStripe, donation: Donation, method: Method) -> None:
    donation.refresh_from_db()
    intent = fake.get(donation.stripe_payment_intent, ["latest_charge.balance_transaction"])
    balance = intent["latest_charge"]["balance_transaction"]
    gift = Transaction.objects.get(donation=donation, kind=TransactionKind.GIFT)
    assert (gift.amount, gift.fee, gift.net) == (
        balance["amount"],
        balance["fee"],
        balance["amount"] - balance["fee"],
    )
    assert gift.stripe_balance_transaction == balance["id"]
    assert gift.stripe_charge == intent["latest_charge"]["id"]
    assert (donation.status, donation.method) == (DonationStatus.PAID, method)
    assert DonorNotice.objects.filter(donation=donation).count() == 1


def test_a_batch_of_paid_gifts_is_booked_from_one_page_of_charges(
    fake_stripe: FakeStripe,
) -> None:
    # Given 9 one-off gifts paid at Stripe by card, iDEAL and Bancontact, events not applied
    plan = [(METHODS[n % 3], 500 + 250 * n) for n in range(9)]
    gifts = [_gift(fake_stripe, method, amount) for method, amount in plan]
    for gift, (method, _) in zip(gifts, plan, strict=True):
        fake_stripe.complete_checkout(gift.stripe_checkout_session, "paid", method)
    _store_events(fake_stripe)
    fake_stripe.clear_requests()

    # When one drain applies them (a batch takes 20 events: two of each gift's are handled)
    assert inbox_drain() == 18

    # Then Stripe was asked once, for a page of charges, not once per payment intent or
    # Checkout Session
    assert [(r.method, r.path) for r in fake_stripe.requests] == [("GET", "/v1/charges")]
    # And every gift is booked with Stripe's own amount, fee and balance transaction
    for gift, (method, amount) in zip(gifts, plan, strict=True):
        _assert_booked_as_stripe_says(fake_stripe, gift, method)
        assert Transaction.objects.get(donation=gift).amount == amount


def test_a_gift_charged_long_before_its_success_is_re_read_on_its_own(
    fake_stripe: FakeStripe,
) -> None:
    # Given a gift whose bank took three days (the charge is older than its payment's
    # success, so a page of charges around that event does not hold it) beside a fresh one
    slow = _gift(fake_stripe, Method.IDEAL, 4000)
    session = fake_stripe.complete_checkout(slow.stripe_checkout_session, "processing", "ideal")
    intent = session["payment_intent"]
    fake_stripe.advance_time(3 * DAY)
    fake_stripe.settle(intent if isinstance(intent, str) else intent["id"])
    fresh = _gift(fake_stripe, Method.CARD, 1500)
    fake_stripe.complete_checkout(fresh.stripe_checkout_session, "paid", "card")
    _store_events(fake_stripe)
    fake_stripe.clear_requests()

    # When the inbox is drained
    inbox_drain()

    # Then the slow gift's payment intent was re-read, and both are booked as Stripe says
    slow.refresh_from_db()
    reread = fake_stripe.requests_to("GET", f"/v1/payment_intents/{slow.stripe_payment_intent}")
    assert len(reread) == 1
    _assert_booked_as_stripe_says(fake_stripe, slow, Method.IDEAL)
    _assert_booked_as_stripe_says(fake_stripe, fresh, Method.CARD)


def test_a_gift_already_in_the_ledger_costs_no_read(fake_stripe: FakeStripe) -> None:
    # Given a paid gift that is booked already
    gift = _gift(fake_stripe, Method.IDEAL, 2500)
    fake_stripe.complete_checkout(gift.stripe_checkout_session, "paid", "ideal")
    _store_events(fake_stripe)
    inbox_drain()
    charge_reads._known.clear()
    fake_stripe.clear_requests()

    # When Stripe sends its success again under a new event id (as reconcile or a resent
    # event from the dashboard would bring it)
    event = dict(fake_stripe.events("payment_intent.succeeded")[0], id="evt_sent_again")
    stripe_event_receive(event=event, via="reconcile")
    assert inbox_drain() == 1

    # Then nothing was read from Stripe and the gift is booked once
    assert fake_stripe.requests == []
    assert Transaction.objects.filter(donation=gift, kind=TransactionKind.GIFT).count() == 1
