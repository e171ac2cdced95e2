"""The inbox drain: batches of events in one transaction, a failing event kept with its error and
backoff while the rest of its batch applies, an event whose donation another drain holds left
for a later batch, and a ceiling on the queries a paid gift costs."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.inbox import _claim, inbox_drain, stripe_event_receive
from donations.models import (
    Donation,
    DonationStatus,
    DonorNotice,
    EventStatus,
    Frequency,
    Method,
    StripeEvent,
    Transaction,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _paid_at_stripe(fake: FakeStripe) -> Donation:
    """A one-off gift paid at the fake Stripe; its events are stored in our inbox, not applied."""
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=2500,
            frequency=Frequency.ONE_OFF,
            method=Method.IDEAL,
            email="gever@voorbeeld.nl",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    for event in fake.events():
        stripe_event_receive(event=event, via="webhook")
    return donation


def _unknown_session_event() -> dict[str, Any]:
    """A signed-looking event for a Checkout Session Stripe does not know: re-reading it fails."""
    return {
        "id": "evt_inbox_missing_session",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(timezone.now().timestamp()),
        "data": {"object": {"id": "cs_test_does_not_exist", "object": "checkout.session"}},
    }


def _handled() -> Any:
    return StripeEvent.objects.exclude(status=EventStatus.IGNORED)


def test_a_failing_event_keeps_its_error_and_backoff_while_its_batch_applies(
    fake_stripe: FakeStripe,
) -> None:
    # Given a paid gift's events and, in the same batch, one whose handler fails
    donation = _paid_at_stripe(fake_stripe)
    stripe_event_receive(event=_unknown_session_event(), via="webhook")

    # When one drain runs
    inbox_drain()

    # Then the gift is applied and the failure is kept on its row, to be retried after 10 s
    donation.refresh_from_db()
    assert donation.status == DonationStatus.PAID
    assert Transaction.objects.filter(donation=donation).count() == 1
    failed = StripeEvent.objects.get(stripe_id="evt_inbox_missing_session")
    assert failed.status == EventStatus.FAILED
    assert failed.attempts == 1
    assert "cs_test_does_not_exist" in failed.last_error
    assert failed.processed_at is None
    assert failed.next_attempt_at is not None
    wait = (failed.next_attempt_at - timezone.now()).total_seconds()
    assert 5 < wait <= 10
    assert set(_handled().exclude(pk=failed.pk).values_list("status", flat=True)) == {
        EventStatus.PROCESSED
    }

    # A drain before the backoff has passed leaves it alone
    inbox_drain()
    assert StripeEvent.objects.get(pk=failed.pk).attempts == 1

    # Once it has passed, it is tried again and the next wait doubles
    StripeEvent.objects.filter(pk=failed.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    inbox_drain()
    failed.refresh_from_db()
    assert failed.attempts == 2
    assert failed.status == EventStatus.FAILED
    assert failed.next_attempt_at is not None
    assert 15 < (failed.next_attempt_at - timezone.now()).total_seconds() <= 20


def test_an_event_whose_donation_another_transaction_holds_waits_for_a_later_batch(
    fake_stripe: FakeStripe,
) -> None:
    # Given a paid gift's events, and another transaction (another drain's open batch, say)
    # holding the donation's row lock
    donation = _paid_at_stripe(fake_stripe)
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold_the_donation() -> None:
        try:
            with transaction.atomic():
                Donation.objects.select_for_update().get(pk=donation.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()
            done.set()

    holder = threading.Thread(target=hold_the_donation)
    holder.start()
    try:
        assert locked.wait(10)

        # When a drain runs meanwhile
        inbox_drain(max_seconds=1)

        # Then it neither waits for the lock nor counts a failure: the events are untouched
        assert set(_handled().values_list("status", "attempts", "last_error")) == {
            (EventStatus.RECEIVED, 0, "")
        }
        assert not Transaction.objects.exists()
    finally:
        release.set()
        holder.join(30)
    assert done.is_set()

    # And once the lock is gone, the next drain applies them, thanking the donor once
    inbox_drain()
    donation.refresh_from_db()
    assert donation.status == DonationStatus.PAID
    assert set(_handled().values_list("status", "attempts")) == {(EventStatus.PROCESSED, 1)}
    assert DonorNotice.objects.filter(donation=donation).count() == 1


def test_a_drain_takes_a_gifts_waiting_events_together(fake_stripe: FakeStripe) -> None:
    # Given two paid gifts whose events are stored one gift after the other
    first, second = _paid_at_stripe(fake_stripe), _paid_at_stripe(fake_stripe)
    waiting = list(_handled().order_by("received_at"))
    assert [e.gift_key for e in waiting] == [str(first.uuid)] * 2 + [str(second.uuid)] * 2

    # When one drain claims a batch of one and another drain claims meanwhile
    with transaction.atomic():
        taken = _claim(1)
        other: list[list[str]] = []
        thread = threading.Thread(target=_claim_elsewhere, args=(other,))
        thread.start()
        thread.join(30)

    # Then the first took the first gift's two events, the other the second gift's
    assert {e.stripe_id for e in taken} == {e.stripe_id for e in waiting[:2]}
    assert [set(ids) for ids in other] == [{e.stripe_id for e in waiting[2:]}]
    # And a gift's session event is applied before its payment's, whatever arrived first
    assert [e.type for e in taken] == ["checkout.session.completed", "payment_intent.succeeded"]


def _claim_elsewhere(result: list[list[str]]) -> None:
    try:
        with transaction.atomic():
            result.append([event.stripe_id for event in _claim(2)])
    finally:
        connection.close()


def test_a_paid_gift_costs_a_bounded_number_of_queries(fake_stripe: FakeStripe) -> None:
    # Given a paid one-off gift's events (two that need work: payment intent and session)
    _paid_at_stripe(fake_stripe)
    assert _handled().count() == 2

    # When they are drained
    with CaptureQueriesContext(connection) as queries:
        assert inbox_drain() == 2

    # Then the whole of it (claim, handlers, audit entries, the thank-you's notice row and
    # what runs after commit) stays within a ceiling: 31 statements before drains took
    # batches, 24 before the audit log stopped reading rows back and the ledger lost its
    # savepoint; transaction control (BEGIN, COMMIT, savepoints, SET LOCAL) not counted. One
    # of them, per batch, asks which of its gifts are booked before their charges are read
    # ahead (donations.charge_reads): it saves a Stripe call per gift.
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "SET LOCAL"))
    ]
    assert len(statements) <= 19, "\n".join(sql[:120] for sql in statements)
    # A batch whose events all apply opens no savepoint per event: the one left is around the
    # gift's donation_succeeded listeners.
    savepoints = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 1
