"""Transactional outbox: a task is never lost when Redis is down at commit or the process dies.

from worker.outbox import enqueue
with transaction.atomic():
    donation = ...
    enqueue("donations.tasks.receipt_send", donation.id)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from worker.celery_app import app
from worker.models import OutboxTask
from worker.wake import wake, wake_again

log = structlog.get_logger(__name__)


def enqueue(task_name: str, *args: Any, **kwargs: Any) -> OutboxTask:
    """Record a task in the current transaction; publish it once the transaction commits."""
    row = OutboxTask.objects.create(task_name=task_name, args=list(args), kwargs=kwargs)
    # The callback runs only if the row committed, and seconds before the relay would look at
    # it (OUTBOX_GRACE_SECONDS): the row in hand is current, no need to read it back.
    transaction.on_commit(lambda: _attempt(row), robust=True)
    return row


# enqueue_soon's rows: one flush task, woken at most once per FLUSH_WAKE_SECONDS.
FLUSH_TASK = "worker.tasks.outbox_flush"
FLUSH_WAKE_KEY = "wake:outbox-flush"
FLUSH_WAKE_SECONDS = 1


def enqueue_soon(task_name: str, *args: Any, **kwargs: Any) -> OutboxTask:
    """Like `enqueue`, for requests that come in thousands a minute (a TV appeal's sign-ups):
    the row is published by the flush task, not by the request, which after commit only
    nudges the flush (one Redis SET, at most one publish a second however many rows come).
    That spares the request a broker publish and a second transaction; the task starts a
    moment later (the flush's own start). A lost nudge leaves the row to the relay."""
    row = outbox_row_soon(task_name, *args, **kwargs)
    row.save(force_insert=True)
    outbox_flush_after_commit()
    return row


def outbox_row_soon(task_name: str, *args: Any, **kwargs: Any) -> OutboxTask:
    """enqueue_soon's row, unsaved, for a caller that writes it with its other rows in one
    statement (config.rows.rows_insert) and then calls outbox_flush_after_commit."""
    return OutboxTask(task_name=task_name, args=list(args), kwargs=kwargs, by_flush=True)


def outbox_flush_after_commit() -> None:
    """Nudge the flush once the rows written so far are committed (at once, outside a
    transaction)."""
    transaction.on_commit(_flush_wake, robust=True)


def _flush_wake() -> None:
    wake(FLUSH_TASK, key=FLUSH_WAKE_KEY, seconds=FLUSH_WAKE_SECONDS)


def outbox_flush(*, batch_size: int = 500) -> int:
    """Publish every row enqueue_soon left, batch after batch; returns how many. Rows are
    claimed with FOR UPDATE SKIP LOCKED, so a concurrent flush or relay never publishes a row
    twice, and no request publishes these rows itself."""
    published = 0
    looked_again = False
    while True:
        with transaction.atomic():
            rows = list(
                OutboxTask.objects.select_for_update(skip_locked=True)
                .filter(published_at__isnull=True, by_flush=True)
                .order_by("pk")[:batch_size]
            )
            for row in rows:
                if not _attempt(row):
                    return published  # the broker is down: the relay takes the rest later
                published += 1
        if len(rows) == batch_size:
            continue
        if looked_again:
            return published
        # Nothing more: the next row stored wakes a new flush; one more look catches a row
        # stored just before the key went.
        wake_again(FLUSH_WAKE_KEY)
        looked_again = True


def _send(row: OutboxTask) -> None:
    # The outbox id travels as the Celery task id, so duplicate publishes are easy to spot.
    app.send_task(row.task_name, args=row.args, kwargs=row.kwargs, task_id=f"outbox-{row.pk}")


def _attempt(row: OutboxTask) -> bool:
    """Send one row to the broker and record the outcome on it; False when the broker failed."""
    try:
        _send(row)
    except Exception as exc:  # noqa: BLE001 - the broker may fail in many ways; retried later
        OutboxTask.objects.filter(pk=row.pk).update(
            attempts=row.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        log.warning("outbox.publish_failed", outbox_id=row.pk, task=row.task_name, error=str(exc))
        return False
    with transaction.atomic():
        # The mark only keeps the relay from publishing the row again, so it need not wait for
        # the disk: should PostgreSQL crash before it is flushed, the relay publishes the task
        # once more, which every task already tolerates (the broker redelivers too). Saves a
        # disk flush per task published after commit.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        OutboxTask.objects.filter(pk=row.pk).update(
            published_at=timezone.now(), attempts=row.attempts + 1
        )
    return True


def outbox_publish(row_id: int) -> bool:
    """Publish one row right after commit. On failure the row waits for the relay."""
    row = OutboxTask.objects.filter(pk=row_id, published_at__isnull=True).first()
    return row is not None and _attempt(row)


def outbox_relay(*, batch_size: int = 500) -> int:
    """Publish rows left unpublished past the grace period. Returns how many were published.

    Rows are claimed with FOR UPDATE SKIP LOCKED so concurrent relays never publish a row twice;
    a publish that fails stops the run (the broker is down) and the next tick tries again.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_GRACE_SECONDS)
    published = 0
    with transaction.atomic():
        rows = list(
            OutboxTask.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True, created_at__lte=cutoff)
            .order_by("created_at")[:batch_size]
        )
        for row in rows:
            if not _attempt(row):
                break  # the broker is down: keep the rest for the next tick
            published += 1
    if published:
        log.info("outbox.relayed", count=published)
    return published


def outbox_prune(*, older_than: timedelta = timedelta(days=7)) -> int:
    deleted, _ = OutboxTask.objects.filter(published_at__lt=timezone.now() - older_than).delete()
    return deleted
