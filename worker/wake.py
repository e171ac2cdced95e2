"""Waking the drains of queues kept in PostgreSQL (the Stripe inbox, donor notices).

The rows are the queue; Redis only carries a nudge. A nudge is published at most once per
period (one SET NX), however many rows arrive, and the drain it starts takes every row that
is due. A lost nudge (Redis down or flushed) only delays the rows until the periodic drain
in worker/schedule.py.

A process that has just seen the key set does not ask Redis again for SEEN_SECONDS: in a
storm of webhooks the SET NX of every request was a tenth of the webhook's CPU, and all but
one per period were refused. That is safe because a drain that clears the key (wake_again)
waits SEEN_SECONDS before its last look: a row whose wake was skipped on the strength of a
key seen at time t was stored before t + SEEN_SECONDS; the key stood at t, so the drains it
published clear it after t, and look once more after t + SEEN_SECONDS, where they find it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from django.core.cache import cache
from django.db import connection, transaction

from config.cache import redis_client
from worker.celery_app import app

log = structlog.get_logger(__name__)
SEEN_SECONDS = 0.1
# key -> monotonic time until which this process takes the key as set.
_seen_until: dict[str, float] = {}


def wake(task_name: str, *, key: str, seconds: int, copies: int = 1) -> bool:
    """Publish `copies` of the task unless it was published within `seconds`; True if it was.
    Never raises: a broker or Redis failure is logged and left to the periodic drain."""
    asked = time.monotonic()  # before the SET: the key stood at least from here
    if _seen_until.get(key, 0.0) > asked:
        return False
    try:
        # cache.add's SET NX, without the cache API's layers: every webhook and sign-up asks.
        published = redis_client().set(cache.make_key(key), 1, nx=True, ex=seconds)
        _seen_until[key] = asked + SEEN_SECONDS
        if not published:
            return False
        for _ in range(copies):
            app.send_task(task_name)
    except Exception as exc:  # noqa: BLE001 - Redis down: the periodic drain takes over
        log.warning("worker.wake_failed", task=task_name, error=str(exc))
        return False
    return True


def wake_again(key: str) -> None:
    """Called by a drain that found nothing more to do: the next row stored wakes a new one.
    The drain looks once more after this returns, so a row stored just before is not missed;
    it returns SEEN_SECONDS after clearing the key, once no process can still be skipping its
    wake on the strength of the key it cleared. Never raises: with Redis down the key expires
    by itself within its period."""
    try:
        cache.delete(key)
    except Exception as exc:  # noqa: BLE001 - Redis down: nothing to clear, nothing lost
        log.warning("worker.wake_reset_failed", key=key, error=str(exc))
    _seen_until.pop(key, None)  # this process knows it is gone
    time.sleep(SEEN_SECONDS)


def on_commit_once(func: Callable[[], None]) -> None:
    """transaction.on_commit, once per transaction however often it is asked: a drain batch
    books many gifts in one transaction, and each would otherwise wake the notice drain and
    drop the campaign's cached progress again (a Redis round trip each, after the commit).

    An earlier registration is dropped by Django when a savepoint around it rolls back, before
    any later call can look; one that stays runs at the commit, so the later call needs none.
    """
    # Django keeps (savepoint ids, callback, robust) for each registration.
    if any(entry[1] is func for entry in connection.run_on_commit):
        return
    transaction.on_commit(func)
