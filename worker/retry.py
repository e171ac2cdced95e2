"""Task-level retry when a task loses PostgreSQL or the broker mid-run.

A short outage (a database restart, Redis restarting) must not turn every task that runs into a
failure that is acknowledged and forgotten: the task retries itself with a short, bounded,
jittered backoff (2, 4, 8, 16, 30, 30 ... s, about five minutes in all), and each worker process
logs one warning per interval saying what is down and how many tasks wait for it
(worker.outage), instead of a traceback per task.

    @shared_task(name=..., **RETRY_ON_CONNECTION_LOST)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import kombu.exceptions
import psycopg
import redis.exceptions
from celery import signals
from django import db

from worker import outage

DATABASE_LOST: tuple[type[BaseException], ...] = (
    db.OperationalError,
    db.InterfaceError,
    psycopg.OperationalError,  # the raw libpq calls of mailing.sending's marks
)
BROKER_LOST: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
CONNECTION_LOST = DATABASE_LOST + BROKER_LOST

RETRY_ON_CONNECTION_LOST: dict[str, Any] = {
    "autoretry_for": CONNECTION_LOST,
    "retry_backoff": 2,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 12,
}


# Errors PostgreSQL itself reports to a live connection that psycopg files under
# OperationalError: a lock not granted within lock_timeout (55P03), a statement cancelled
# (57014), a deadlock or serialization failure (class 40). The database is up; a traceback,
# not an outage warning, tells what happened.
_ANSWERED = (
    psycopg.errors.LockNotAvailable,
    psycopg.errors.QueryCanceled,
    psycopg.errors.TransactionRollback,
)


def what_is_down(exc: BaseException | None) -> str:
    if isinstance(exc, DATABASE_LOST):
        cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
        return "unknown" if isinstance(cause, _ANSWERED) else "database"
    if isinstance(exc, BROKER_LOST):
        return "broker"
    return "unknown"


@signals.task_retry.connect
def _log_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    """One warning per interval per worker process and waiter, not a line per task. A task
    retried five times in an interval counts once (keyed by its id). A send batch names whom
    it is for ("mailing 12: 250 recipients"): dispatch gives each batch its owner."""
    error = getattr(reason, "exc", reason)  # celery's Retry carries the error that caused it
    down = what_is_down(error if isinstance(error, BaseException) else None)
    task = getattr(request, "task", "?")
    args = getattr(request, "args", None) or []
    owner = (getattr(request, "kwargs", None) or {}).get("owner")
    if args and isinstance(args[-1], list):  # a batch of ids (mail, statements): count rows
        what, count, unit = owner or f"rows of {task}", len(args[-1]), "recipients"
    else:
        what, count, unit = f"task {task}", 1, "tasks"
    outage.waiting(
        down,
        what,
        count=count,
        unit=unit,
        key=getattr(request, "id", None),
        error=f"{type(error).__name__}: {error}"[:300],
    )


@signals.task_success.connect
def _log_recovery(**_: Any) -> None:
    # Every task of ours reads PostgreSQL and came through the broker: one that succeeded
    # means both answer again.
    outage.recovered("database")
    outage.recovered("broker")


@contextmanager
def skipped_while_down(what: str) -> Iterator[None]:
    """For periodic tasks: a run that loses PostgreSQL or the broker is skipped (the next run
    comes in seconds) and counted in the outage warning instead of logging a traceback."""
    try:
        yield
    except CONNECTION_LOST as exc:
        outage.waiting(
            what_is_down(exc), what, unit="runs", error=f"{type(exc).__name__}: {exc}"[:300]
        )
