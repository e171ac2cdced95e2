"""Waking the inbox drain: a process that has just seen the wake key set skips Redis for a
moment, and the drain that clears the key still finds a row whose wake was skipped. Real
Redis, a real worker process, no beat (so no periodic drain can hide a lost row)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import redis as redis_lib
from django.core.cache import cache

from donations import inbox
from donations.models import EventStatus, StripeEvent
from tests.harness.waiting import wait_until
from worker import wake

pytestmark = [pytest.mark.django_db(transaction=True)]


def _event() -> dict[str, Any]:
    """An expired Checkout Session of no gift of ours: queued for its handler, cheap to apply."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "checkout.session.expired",
        "created": int(time.time()),
        "data": {"object": {"id": f"cs_test_{uuid.uuid4().hex}", "object": "checkout.session"}},
    }


def _sets(client: redis_lib.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_set", {})
    return int(stats.get("calls", 0))


def test_a_process_asks_redis_once_while_the_key_stands(
    clean_broker: None, redis_client: redis_lib.Redis
) -> None:
    key = cache.make_key(inbox.WAKE_KEY)
    wake.wake_again(inbox.WAKE_KEY)  # no key, and this process has seen none
    before = _sets(redis_client)
    assert wake.wake("probe.task", key=inbox.WAKE_KEY, seconds=30) is True
    assert redis_client.exists(key)
    # Within SEEN_SECONDS the key is taken as standing, even once it is gone: no SET, no task.
    redis_client.delete(key)
    assert wake.wake("probe.task", key=inbox.WAKE_KEY, seconds=30) is False
    assert _sets(redis_client) - before == 1
    # Afterwards Redis is asked again, and the key being gone, a task is published.
    time.sleep(wake.SEEN_SECONDS)
    assert wake.wake("probe.task", key=inbox.WAKE_KEY, seconds=30) is True
    assert _sets(redis_client) - before == 2
    wake.wake_again(inbox.WAKE_KEY)


@pytest.mark.slow
def test_a_row_whose_wake_was_skipped_is_taken_by_the_drain_that_cleared_the_key(
    celery_worker: Any, redis_client: redis_lib.Redis, settings: Any
) -> None:
    settings.INBOX_DRAINERS = 1  # a second copy would look after the first and hide a miss
    celery_worker()
    key = cache.make_key(inbox.WAKE_KEY)
    for _ in range(5):  # each round almost always hits the window; a few make it certain
        assert inbox.stripe_event_receive(event=_event(), via="webhook")  # wakes a drain
        late = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            inbox.inbox_wake()  # refused while the key stands, and remembered
            if not redis_client.exists(key):
                # The drain has just cleared the key and not yet looked for the last time.
                late = _event()
                inbox.stripe_event_receive(event=late, via="webhook")
                break
            time.sleep(0.002)
        assert late is not None, "no drain cleared the wake key"
        if redis_client.exists(key):
            continue  # this process asked Redis again and woke a new drain: not the case here
        # Nothing else will look: no beat, and this process published no task for it.
        waiting = StripeEvent.objects.filter(stripe_id=late["id"], status=EventStatus.RECEIVED)
        wait_until(lambda: not waiting.exists(), timeout=10)  # noqa: B023 - used at once
        return
    pytest.fail("the late row's wake was never skipped: the case was not reached")
