"""Two workers applying events about one monthly payment at the same moment: the refund and
the payment it refunds. Whichever commits first, the donation ends up refunded and the refund
row belongs to it (found by the storm test, where it happened about one run in ten)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.handlers import HANDLERS
from donations.inbox import inbox_drain
from donations.models import (
    Donation,
    DonationStatus,
    Frequency,
    Method,
    RecurringDonation,
    Transaction,
    TransactionKind,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _renewed_then_refunded(fake: FakeStripe, live_server: Any) -> dict[str, Any]:
    """A monthly gift whose first payment is applied; its second payment is made and fully
    refunded at Stripe, neither applied yet. Returns the two events."""
    fake.set_webhook(live_server.url + "/stripe/webhook/", secret=fake.webhook_secret)
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=1500, frequency=Frequency.MONTHLY, method=Method.IDEAL, email="race@voorbeeld.nl"
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    fake.wait_for_deliveries()
    inbox_drain()
    recurring = RecurringDonation.objects.get()
    fake.set_webhook(None)  # the two events below are applied by hand, not delivered
    invoice = fake.renew(recurring.stripe_subscription)
    charge = max(fake.objects("charge"), key=lambda c: c["created"])
    fake.refund(charge["id"])
    paid = next(
        e for e in fake.events("invoice.paid") if e["data"]["object"]["id"] == invoice["id"]
    )
    return {"invoice.paid": paid, "charge.refunded": fake.events("charge.refunded")[-1]}


def _waiting_on_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def _in_thread(work: Callable[[], None], pids: list[int]) -> threading.Thread:
    def run() -> None:
        try:
            pids.append(connection.cursor().connection.info.backend_pid)
            with transaction.atomic():
                work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("first", ["charge.refunded", "invoice.paid"])
def test_refund_and_its_payment_applied_at_once(
    first: str, fake_stripe: FakeStripe, live_server: Any
) -> None:
    events = _renewed_then_refunded(fake_stripe, live_server)
    second = next(kind for kind in events if kind != first)
    first_applied, may_commit = threading.Event(), threading.Event()

    def apply_first() -> None:
        HANDLERS[first](events[first])
        first_applied.set()
        assert may_commit.wait(30)

    # When one worker has applied the first event but not yet committed...
    first_pids: list[int] = []
    holder = _in_thread(apply_first, first_pids)
    assert first_applied.wait(30)
    # ...and another applies the second event meanwhile,
    second_pids: list[int] = []
    other = _in_thread(lambda: HANDLERS[second](events[second]), second_pids)
    deadline = time.monotonic() + 10
    while other.is_alive() and time.monotonic() < deadline:
        if second_pids and _waiting_on_lock(second_pids[0]):
            break  # it waits for the first worker's transaction, as it should
        time.sleep(0.02)
    may_commit.set()
    holder.join(30)
    other.join(30)

    # Then the refunded payment's donation is refunded and owns its refund row.
    renewal = Donation.objects.exclude(stripe_invoice=None).order_by("-created_at").first()
    assert renewal is not None
    assert renewal.status == DonationStatus.REFUNDED
    refund = Transaction.objects.get(kind=TransactionKind.REFUND)
    assert refund.stripe_payment_intent == renewal.stripe_payment_intent
