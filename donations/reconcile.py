"""Feed every Stripe event we missed through the inbox. Stripe keeps events for 30 days.

One service for the periodic task and `manage.py reconcile_stripe`. Stripe lists events
newest first, so a run walks back in time from now to its lower bound: each page is stored
in its own transaction together with the run's progress on the cursor row (`run_after`, the
last event stored), so a run that is killed continues after that event next time. The
"every event up to here is stored" mark (`stripe_created`) only moves when a run completes:
before that the older part of its range is still unread. Events go through the webhook's own
`stripe_event_receive` (INSERT ... ON CONFLICT DO NOTHING), so an event both paths bring is
stored once, and the drains apply it like any other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from donations import stripe_api
from donations.envelope import MalformedEvent, event_check
from donations.inbox import stripe_event_receive
from donations.models import StripeEvent, SyncCursor

log = structlog.get_logger(__name__)
CURSOR = "stripe-events"
# Events can become visible in the list a little after their `created` time: re-read a margin.
OVERLAP_SECONDS = 300
# The advisory lock one run holds, in a transaction of its own (_run_lock; PostgreSQL frees it
# if the process dies).
RUN_LOCK = 0x5EC0_0E1C
# A dry run remembers this many missing events in detail (it counts all of them).
MISSING_KEPT = 200


class ReconcileBusy(Exception):
    """Another run (the periodic task or the command) holds the run lock."""


@dataclass(frozen=True)
class MissingEvent:
    id: str
    type: str
    created: int


@dataclass
class ReconcileSummary:
    """What one run saw. In a dry run `new` counts the events the inbox lacks."""

    since: int  # events created after this Unix time were listed
    dry_run: bool = False
    resumed_after: str = ""  # the event an interrupted run continued after
    pages: int = 0
    oldest_seen: int = 0  # `created` of the last event listed: how far back the run has got
    listed: Counter[str] = field(default_factory=Counter)  # by type
    new: Counter[str] = field(default_factory=Counter)  # stored now (dry run: missing), by type
    malformed: int = 0
    missing: list[MissingEvent] = field(default_factory=list)  # dry run, the first ones
    completed: bool = False
    cursor: int = 0  # the "stored up to" mark after the run

    @property
    def stored(self) -> int:
        return 0 if self.dry_run else self.new.total()

    @property
    def already_stored(self) -> int:
        return self.listed.total() - self.new.total() - self.malformed


Progress = Callable[[ReconcileSummary], None]


def reconcile_stripe() -> int:
    """The periodic task's run: how many missed events it stored (0 when a run is going)."""
    try:
        summary = reconcile_run()
    except ReconcileBusy:
        log.info("donations.reconcile_busy")
        return 0
    if summary.stored:
        log.warning("donations.reconcile_found_missed_events", count=summary.stored)
    return summary.stored


def reconcile_run(
    *, since: int | None = None, dry_run: bool = False, progress: Progress | None = None
) -> ReconcileSummary:
    """List Stripe's events created after `since` (default: the cursor, less a margin) and
    store the ones the inbox lacks; a dry run only reports them. Continues an interrupted run
    of the same range. Raises ReconcileBusy while another run holds the lock, and StripeError
    when Stripe fails (the pages stored so far are kept for the next run)."""
    with _run_lock():
        if dry_run:  # reads the cursor, never creates it
            cursor = SyncCursor.objects.filter(name=CURSOR).first() or SyncCursor(name=CURSOR)
        else:
            cursor, _ = SyncCursor.objects.get_or_create(name=CURSOR)
        start = since if since is not None else max(0, cursor.stripe_created - OVERLAP_SECONDS)
        if dry_run:
            return _dry_run(start, cursor, progress)
        summary = ReconcileSummary(since=start)
        if cursor.run_since is not None and since in {None, cursor.run_since}:
            summary.since, summary.resumed_after = cursor.run_since, cursor.run_after
        else:
            cursor.run_since, cursor.run_after, cursor.run_newest = start, "", 0
            cursor.save(update_fields=["run_since", "run_after", "run_newest", "updated_at"])
        for page in _pages(summary.since, cursor.run_after, summary):
            with transaction.atomic():
                known = _known(page)
                for event in page:
                    _store(event, summary, known)
                cursor.run_after = page[-1]["id"]
                cursor.run_newest = max(cursor.run_newest, _newest(page))
                cursor.save(update_fields=["run_after", "run_newest", "updated_at"])
            _paged(summary, page, progress)
        _complete(cursor, summary)
    return summary


def _pages(since: int, after: str, summary: ReconcileSummary) -> Iterator[list[dict[str, Any]]]:
    """Stripe's pages of events created after `since`, newest first, from after `after`."""
    starting_after = after or None
    while True:
        try:
            page = stripe_api.events_page(created_after=since, starting_after=starting_after)
        except stripe_api.StripeError as exc:
            if starting_after is None or getattr(exc, "code", None) != "resource_missing":
                raise
            # The event an interrupted run stopped after is gone (Stripe keeps 30 days):
            # start over from the newest; the inbox drops what it has already.
            log.warning("donations.reconcile_restart", after=starting_after)
            starting_after, summary.resumed_after = None, ""
            continue
        events: list[dict[str, Any]] = page["data"]
        if not events:
            return
        yield events
        if not page.get("has_more"):
            return
        starting_after = events[-1]["id"]


def _known(page: list[dict[str, Any]]) -> set[str]:
    """The page's events the inbox has already: one query instead of an INSERT each (most
    runs find every event stored by the webhook)."""
    ids = [event["id"] for event in page if isinstance(event.get("id"), str)]
    return set(StripeEvent.objects.filter(stripe_id__in=ids).values_list("stripe_id", flat=True))


def _store(event: dict[str, Any], summary: ReconcileSummary, known: set[str]) -> None:
    try:
        event_check(event)
    except MalformedEvent as exc:
        summary.malformed += 1
        log.warning("donations.reconcile_malformed_event", stripe_event=event.get("id"), error=exc)
        return
    summary.listed[event["type"]] += 1
    # An event the webhook stores meanwhile is dropped by the INSERT's ON CONFLICT.
    if event["id"] not in known and stripe_event_receive(event=event, via="reconcile"):
        summary.new[event["type"]] += 1


def _newest(page: list[dict[str, Any]]) -> int:
    return max((e["created"] for e in page if isinstance(e.get("created"), int)), default=0)


def _paged(
    summary: ReconcileSummary, page: list[dict[str, Any]], progress: Progress | None
) -> None:
    summary.pages += 1
    created = page[-1].get("created")
    summary.oldest_seen = created if isinstance(created, int) else summary.oldest_seen
    if progress is not None:
        progress(summary)


def _complete(cursor: SyncCursor, summary: ReconcileSummary) -> None:
    """Close the run; move the mark only when the run's range joins what was stored before
    (a `--since` later than the mark leaves a gap the next periodic run still reads)."""
    if summary.since <= cursor.stripe_created:
        cursor.stripe_created = max(cursor.stripe_created, cursor.run_newest)
    cursor.run_since, cursor.run_after, cursor.run_newest = None, "", 0
    cursor.save()
    summary.completed, summary.cursor = True, cursor.stripe_created


def _dry_run(since: int, cursor: SyncCursor, progress: Progress | None) -> ReconcileSummary:
    summary = ReconcileSummary(since=since, dry_run=True, cursor=cursor.stripe_created)
    for page in _pages(since, "", summary):
        known = _known(page)
        for event in page:
            try:
                event_check(event)
            except MalformedEvent:
                summary.malformed += 1
                continue
            summary.listed[event["type"]] += 1
            if event["id"] not in known:
                summary.new[event["type"]] += 1
                if len(summary.missing) < MISSING_KEPT:
                    summary.missing.append(
                        MissingEvent(event["id"], event["type"], event["created"])
                    )
        _paged(summary, page, progress)
    summary.completed = True
    return summary


@contextmanager
def _run_lock() -> Iterator[None]:
    # Held by a transaction on a connection of its own for the whole run, not by this session:
    # behind PgBouncer in transaction pooling a session-level lock stays on whichever server
    # connection took it (and is "released" on another). An open transaction keeps its server
    # connection, and PostgreSQL frees the lock when the transaction or the process ends.
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        holder.set_autocommit(False)
        with holder.cursor() as db:
            db.execute("SELECT pg_try_advisory_xact_lock(%s)", [RUN_LOCK])
            row = db.fetchone()
        if not row or not row[0]:
            raise ReconcileBusy
        yield
    finally:
        with suppress(DatabaseError):  # a connection that is gone took the lock with it
            holder.rollback()
        holder.close()
