"""Events arriving in another order than Stripe sent them end in the state the in-order run
leaves. Both cases were found by tests/donations/test_stripe_month.py's shuffled month: a
past-due monthly gift made active again (its dunning count reset) by an older month's late
`invoice.paid`, and a partly refunded gift marked refunded because its refund came first."""

from __future__ import annotations

import pytest

from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain, stripe_event_receive
from donations.models import (
    Donation,
    DonationStatus,
    Frequency,
    Method,
    RecurringDonation,
    RecurringState,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _receive(events: list[dict[str, object]]) -> None:
    for event in events:
        stripe_event_receive(event=event, via="webhook")
    inbox_drain()


@pytest.mark.parametrize("door", ["dashboard", "payment_link"])
def test_an_older_paid_invoice_arriving_late_leaves_the_gift_past_due(
    fake_stripe: FakeStripe, door: str
) -> None:
    # Given a monthly gift whose first month was paid and whose second SEPA debit failed.
    fake_stripe.auto_deliver = False
    if door == "dashboard":
        subscription = fake_stripe.dashboard_subscription(
            amount=2000, email="laat@voorbeeld.nl", name="Lieke Laat"
        )["id"]
    else:
        session = fake_stripe.payment_link_pay(
            amount=2000, email="laat@voorbeeld.nl", name="Lieke Laat", method="ideal", monthly=True
        )
        subscription = session["subscription"]
    first_invoice = fake_stripe.objects("invoice")[0]["id"]
    renewal = fake_stripe.renew(subscription, settle=False)
    intent = fake_stripe.objects("payment_intent")[0]["id"]
    fake_stripe.settle(intent, succeed=False)
    events = fake_stripe.events()
    late = [
        e
        for e in events
        if e["type"] in {"invoice.paid", "invoice.payment_succeeded"}
        and e["data"]["object"]["id"] == first_invoice  # type: ignore[index]
    ]

    # When the failure is applied first and the first month's payment events come last,
    _receive([e for e in events if e not in late])
    recurring = RecurringDonation.objects.get()
    assert (recurring.state, recurring.failed_payments) == (RecurringState.PAST_DUE, 1)
    _receive(late)

    # then the gift is still past due, its failed debit still counted.
    recurring.refresh_from_db()
    assert (recurring.state, recurring.failed_payments) == (RecurringState.PAST_DUE, 1)
    assert Donation.objects.get(stripe_invoice=renewal["id"]).status == "failed"
    assert Donation.objects.get(stripe_invoice=first_invoice).status == "paid"


@pytest.mark.parametrize(("refunded", "status"), [(1000, "partially_refunded"), (None, "refunded")])
def test_a_refund_applied_before_its_payment_gives_the_in_order_status(
    fake_stripe: FakeStripe, refunded: int | None, status: str
) -> None:
    # Given a €30 iDEAL gift from our donate page, refunded (in part) at Stripe.
    fake_stripe.auto_deliver = False
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=3000,
            frequency=Frequency.ONE_OFF,
            method=Method.IDEAL,
            email="eerst@voorbeeld.nl",
            name="Ezra Eerst",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    session = fake_stripe.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    charge = fake_stripe.get(session["payment_intent"])["latest_charge"]
    fake_stripe.refund(charge, amount=refunded)
    events = fake_stripe.events()
    refund_events = [e for e in events if e["type"] in {"charge.refunded", "refund.created"}]

    # When the refund is applied before the payment's own events,
    _receive(refund_events)
    _receive([e for e in events if e not in refund_events])

    # then the gift is refunded as much as it was, as if the events had come in order.
    donation.refresh_from_db()
    assert donation.status == DonationStatus(status)
