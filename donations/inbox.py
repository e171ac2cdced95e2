"""The Stripe webhook inbox: PostgreSQL is the queue, Redis only wakes the workers.

The webhook stores each event with one INSERT ... ON CONFLICT (a duplicate costs nothing more)
and, at most once per wake period, publishes a drain task. Drain tasks process every waiting
event, each in its own transaction under a row lock, with backoff for failures kept on the row.
A periodic drain picks up anything a lost wake-up (Redis down or flushed) left behind, so no
event depends on Redis.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from contextlib import nullcontext
from datetime import timedelta
from enum import StrEnum
from typing import Any

import structlog
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from psycopg.errors import DeadlockDetected, LockNotAvailable

from backoffice.audit import entries_deferred
from donations.charge_reads import charges_read_ahead
from donations.gift_batch import plain_gifts_book
from donations.handlers import HANDLERS, event_wanted
from donations.ledger import from_timestamp
from donations.models import EventStatus, StripeEvent
from worker.claims import index_order
from worker.wake import wake, wake_again

log = structlog.get_logger(__name__)
DRAIN_TASK = "donations.tasks.inbox_drain"
WAKE_KEY = "donations:inbox:wake"
# Failed handlers are retried after 10 s, 20 s, 40 s, ... up to an hour, then left for staff
# (after EVENT_MAX_ATTEMPTS).
BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 3600
# Events a drain claims and commits together: larger batches save commits, but every event in
# one waits for the whole batch, and the batch holds its donations' row locks until it commits.
# A claim takes what is waiting, so only a backlog fills a batch; in a storm batches of 100
# cost the drain 12% less CPU an event than batches of 20 (bench/webhook_storm.py), since a
# claim reads only its own rows (worker.claims).
BATCH_SIZE = 100
# How long a handler waits for a row another drain's batch has locked before it leaves the
# event for a later batch (see _drain_batch), and how long a drain pauses when that is all
# it has left. Barely any wait: the holder keeps the row until its whole batch commits, a
# few hundred ms, so a longer wait rarely ends in the lock and only idles the drain (20 ms
# cost the two drains of the lag bench 3 s each).
LOCK_WAIT_MS = 2
BUSY_PAUSE_SECONDS = 0.05

# Events without work (types without a handler, a charge with a payment intent) are stored
# already marked ignored: kept for the record, never queued (about half of what Stripe sends
# for a gift: charge.succeeded, *.created, ...).
_INSERT = """
INSERT INTO donations_stripeevent
    (stripe_id, type, payload, stripe_created, received_at, via, status, processed_at,
     attempts, last_error, gift_key)
VALUES (%s, %s, %s::jsonb, %s, now(), %s, %s, %s, 0, '', %s)
ON CONFLICT (stripe_id) DO NOTHING
RETURNING id
"""


def stripe_event_receive(*, event: dict[str, Any], raw: bytes | None = None, via: str) -> bool:
    """Store a verified event unless we have it already; True when it is new.

    A single statement in autocommit: committed when it returns, so the caller can answer 2xx.
    """
    body = raw.decode() if raw is not None else json.dumps(event)
    handled = event_wanted(event)
    status = EventStatus.RECEIVED if handled else EventStatus.IGNORED
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                event["id"],
                event["type"],
                body,
                from_timestamp(event.get("created")),
                via,
                status,
                None if handled else timezone.now(),
                gift_key(event),
            ],
        )
        created = cursor.fetchone() is not None
    if created and handled:
        if connection.in_atomic_block:
            transaction.on_commit(inbox_wake)
        else:
            inbox_wake()
    return created


def gift_key(event: dict[str, Any]) -> str:
    """Our donation uuid, where the event's object carries it (payment intents and Checkout
    Sessions of our gifts); empty otherwise."""
    obj = (event.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata")
    # Only the envelope is checked at receipt (donations.envelope): the rest of a signed
    # body may be any JSON, so no shape is assumed here.
    uuid = metadata.get("donation_uuid") if isinstance(metadata, dict) else None
    return str(uuid or obj.get("client_reference_id") or "")[:255]


def inbox_wake() -> None:
    """Start drain tasks unless some were started within the wake period (one SET NX)."""
    wake(
        DRAIN_TASK,
        key=WAKE_KEY,
        seconds=settings.INBOX_WAKE_SECONDS,
        copies=settings.INBOX_DRAINERS,
    )


def _claim(limit: int) -> list[StripeEvent]:
    """Lock up to `limit` due events, oldest first, skipping any another drain holds, and the
    other due events of the same gifts (a gift's events arrive close together; split over two
    drains' batches, one would find the donation locked by the other and leave the event for
    later, round trips for nothing)."""
    with index_order():
        events = list(claim_query(limit))
        gifts = {event.gift_key for event in events} - {""}
        if gifts:
            taken = [event.pk for event in events]
            events += _due_unheld().filter(gift_key__in=gifts).exclude(pk__in=taken)[:limit]
    return _in_order(events)


def claim_query(limit: int) -> QuerySet[StripeEvent]:
    """The oldest `limit` due events nobody holds, locked (read in the waiting index's order
    under worker.claims.index_order)."""
    return _due_unheld().order_by("received_at")[:limit]


def _due_unheld() -> QuerySet[StripeEvent]:
    return StripeEvent.objects.due().select_for_update(skip_locked=True)


def _in_order(events: list[StripeEvent]) -> list[StripeEvent]:
    """Oldest first, except that a gift's Checkout Session events go before its payment's:
    the session books a paid gift together with the donor's details in one save, and the
    payment's event then finds it booked; the other way round the donation is saved twice.
    Handlers give the same books in any order (tests/donations/test_event_order.py)."""
    first: dict[str, Any] = {}
    for event in sorted(events, key=lambda event: event.received_at):
        first.setdefault(event.gift_key or f"#{event.pk}", event.received_at)
    return sorted(
        events,
        key=lambda event: (
            first[event.gift_key or f"#{event.pk}"],
            not event.type.startswith("checkout.session."),
            event.received_at,
        ),
    )


def inbox_drain(*, batch_size: int = BATCH_SIZE, max_seconds: float = 50) -> int:
    """Process waiting events until none is due (or time is up). Returns how many it applied.

    Several drains may run at once: each claims its own batch with FOR UPDATE SKIP LOCKED, so
    they share the work and never apply one event twice.
    """
    started = time.monotonic()
    tally: Counter[Outcome] = Counter()
    while time.monotonic() - started < max_seconds:
        outcomes = _drain_batch(batch_size)
        tally.update(outcomes)
        if len(outcomes) < batch_size:
            # A short batch: nothing else was due. Let the next webhook wake us, then look
            # once more: an event stored before the delete is seen by this look; one stored
            # after it starts a new drain.
            wake_again(WAKE_KEY)
            outcomes = _drain_batch(batch_size)
            tally.update(outcomes)
            if not outcomes:
                break
        if set(outcomes) == {Outcome.BUSY}:
            time.sleep(BUSY_PAUSE_SECONDS)  # only held-up events left: let the holder commit
    if tally:
        log.info(
            "donations.inbox_drained",
            seconds=round(time.monotonic() - started, 2),
            **{str(outcome): count for outcome, count in tally.items()},
        )
    return tally[Outcome.APPLIED]


def _drain_batch(limit: int) -> list[Outcome]:
    """Apply one batch in one transaction: one claim, one status update and one commit for the
    whole batch instead of three round trips and a disk flush per event. Empty when nothing
    was due.

    Usually every event of a batch applies, so the batch is first applied in one go. If an
    event fails, or needs a row another drain holds, the batch is rolled back and applied once
    more with each handler in a savepoint of its own (two round trips an event, saved in the
    usual case): a failing event keeps its error and backoff, the others still commit.

    A batch keeps the rows its handlers lock (donations, monthly gifts) until it commits, so
    an event that needs a row another drain's batch holds does not wait for that whole batch
    (two drains would take turns instead of working side by side, or deadlock): the lock
    timeout gives it up at once, and it goes back to the queue untouched for the next batch.
    """
    try:
        events, outcomes = _drain_claimed(limit, isolated=False)
    except Exception as exc:  # noqa: BLE001 - the event-by-event pass keeps the error on its row
        log.info("donations.batch_event_by_event", error=f"{type(exc).__name__}: {exc}"[:200])
        events, outcomes = _drain_claimed(limit, isolated=True)
    for event, outcome in zip(events, outcomes, strict=True):
        if outcome.applied:
            log.info("donations.event_processed", stripe_event=event.stripe_id, type=event.type)
    return outcomes


def _drain_claimed(limit: int, *, isolated: bool) -> tuple[list[StripeEvent], list[Outcome]]:
    with transaction.atomic():
        events = _claim(limit)
        if not events:
            return [], []
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
        if not isolated:  # the event-by-event pass follows a first pass that read them
            charges_read_ahead(events)
        # In one go, any failure rolls the batch back whole: its audit-log entries can wait
        # and be written together. Event by event, a savepoint may undo one event's changes.
        with nullcontext() if isolated else entries_deferred():
            # In one go, the plain gifts are booked together first (donations.gift_batch).
            booked = set() if isolated else plain_gifts_book(events)
            outcomes = [
                _applied(event) if event.pk in booked else _apply(event, isolated=isolated)
                for event in events
            ]
        # Stamped once the batch is done, so the lag it shows includes waiting for the batch.
        # The usual outcome is one UPDATE for the batch; the others are saved one by one.
        applied = [e.pk for e, outcome in zip(events, outcomes, strict=True) if outcome.applied]
        if applied:
            StripeEvent.objects.filter(pk__in=applied).update(
                status=EventStatus.PROCESSED,
                processed_at=timezone.now(),
                attempts=F("attempts") + 1,
                last_error="",
            )
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome in {Outcome.FAILED, Outcome.IGNORED}:
                event.save(update_fields=_OUTCOME_FIELDS)
    return events, outcomes


def stripe_event_process(*, event_row_id: int) -> str:
    """Apply one stored event exactly once; skip it when another drain holds it."""
    with transaction.atomic():
        event = (
            StripeEvent.objects.select_for_update(skip_locked=True).filter(pk=event_row_id).first()
        )
        if event is None:
            return "locked"
        if event.status in {EventStatus.PROCESSED, EventStatus.IGNORED}:
            return str(event.status)
        outcome = _apply(event, isolated=True)
        if outcome == Outcome.BUSY:
            return str(outcome)
        if outcome.applied:
            event.processed_at = timezone.now()
        event.save(update_fields=_OUTCOME_FIELDS)
    if outcome.applied:
        log.info("donations.event_processed", stripe_event=event.stripe_id, type=event.type)
    return str(event.status)


class Outcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"  # no handler for its type
    FAILED = "failed"  # kept with its error, retried after the backoff
    BUSY = "busy"  # a row it needs is locked by another drain: left as it was, for later

    @property
    def applied(self) -> bool:
        return self is Outcome.APPLIED


_OUTCOME_FIELDS = ["status", "processed_at", "attempts", "last_error", "next_attempt_at"]


def _apply(event: StripeEvent, *, isolated: bool) -> Outcome:
    """Run the event's handler and note the outcome on the (unsaved) row. `isolated`: in a
    savepoint, so a failure rolls back only this event's writes and is noted on the row;
    otherwise a failure is raised, for the caller to roll back."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        event.attempts += 1
        event.status, event.processed_at = EventStatus.IGNORED, timezone.now()
        return Outcome.IGNORED
    if not isolated:
        handler(event.payload)
        return _applied(event)
    try:
        with transaction.atomic():
            handler(event.payload)
    except OperationalError as exc:
        if not isinstance(exc.__cause__, LockNotAvailable | DeadlockDetected):
            return _failed(event, exc)
        log.info("donations.event_busy", stripe_event=event.stripe_id, type=event.type)
        return Outcome.BUSY
    except Exception as exc:  # noqa: BLE001 - any failure is kept on the row and retried
        return _failed(event, exc)
    return _applied(event)


def _applied(event: StripeEvent) -> Outcome:
    event.attempts += 1
    event.status, event.last_error = EventStatus.PROCESSED, ""
    return Outcome.APPLIED


def _failed(event: StripeEvent, exc: Exception) -> Outcome:
    event.attempts += 1
    delay = min(BACKOFF_BASE_SECONDS * 2 ** (event.attempts - 1), BACKOFF_MAX_SECONDS)
    event.status = EventStatus.FAILED
    event.last_error = f"{type(exc).__name__}: {exc}"[:4000]
    event.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    log.warning(
        "donations.event_failed",
        stripe_event=event.stripe_id,
        type=event.type,
        attempts=event.attempts,
        retry_in=delay,
        error=event.last_error,
    )
    return Outcome.FAILED
