"""Database connections across tasks: kept the way Django keeps a web request's.

Celery's Django fixup closes every database connection before and after each task, whatever
CONN_MAX_AGE says (celery 5.6 went back to that: celery/celery#9824), unless
CELERY_DB_REUSE_MAX is set. Each task then starts a new PostgreSQL backend, which spends
60-120 ms of CPU warming its catalog caches on the task's first queries (seen in `top` during
bench/mailing.py: a new backend every second, one per 250-message batch; keeping them took the
100,000-recipient mailing from 2,220 to 2,442 messages/s on a quiet machine). CELERY_DB_REUSE_MAX
turns the fixup's closing off (config/settings/celery.py); here a task closes, before and after
it runs, only a connection that is older than DB_CONN_MAX_AGE, broken, or left in a changed
autocommit state, as Django does around each request (close_old_connections). A connection that
died between tasks (a database restart) is caught by CONN_HEALTH_CHECKS on the next task's
first query. After a fork the fixup still drops what the parent held.
"""

from __future__ import annotations

from typing import Any

from celery import signals
from django.db import close_old_connections, connections


def configure() -> None:
    signals.task_prerun.connect(_tidy, weak=False, dispatch_uid="survivors-db-tidy-prerun")
    signals.task_postrun.connect(_tidy, weak=False, dispatch_uid="survivors-db-tidy-postrun")


def _tidy(sender: Any = None, **_: Any) -> None:
    request = getattr(sender, "request", None)
    if getattr(request, "is_eager", False):
        return  # run inline by its caller (tests, eager mode): the caller's connection
    if any(c.in_atomic_block for c in connections.all(initialized_only=True)):
        return  # never close under an open transaction
    close_old_connections()
