"""The transactional outbox, with real worker and beat subprocesses and a real Redis."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.db import transaction

from config.embedded import start_redis
from tests.harness.broker import use_broker
from tests.harness.waiting import wait_until
from tests.worker_tasks import ensure_probe_table, probe_rows
from worker.models import OutboxTask
from worker.outbox import enqueue, outbox_relay

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Rollback(Exception):
    pass


def test_task_runs_only_after_commit_and_never_after_rollback(celery_worker: Any) -> None:
    ensure_probe_table()
    celery_worker()
    committed, rolled_back = f"commit-{uuid.uuid4()}", f"rollback-{uuid.uuid4()}"

    with transaction.atomic():
        enqueue("tests.probe_record", committed)
        # The worker is running; give it every chance to run the task too early.
        time.sleep(1.5)
        assert probe_rows(committed) == []
        assert OutboxTask.objects.get().published_at is None

    wait_until(lambda: probe_rows(committed), timeout=20)
    assert OutboxTask.objects.get().published_at is not None

    def request_then_fail() -> None:
        with transaction.atomic():
            enqueue("tests.probe_record", rolled_back)
            raise Rollback

    with pytest.raises(Rollback):
        request_then_fail()

    # A relay pass right after would publish anything left behind: there is nothing.
    assert outbox_relay() == 0
    time.sleep(2)
    assert probe_rows(rolled_back) == []
    assert OutboxTask.objects.count() == 1


def test_task_committed_while_redis_is_down_runs_once_redis_is_back(
    celery_worker: Any, celery_beat: Any, private_redis: Any
) -> None:
    ensure_probe_table()
    label = f"outage-{uuid.uuid4()}"
    broker = {
        "REDIS_URL": private_redis.url,
        "OUTBOX_RELAY_SECONDS": "1",
        "OUTBOX_GRACE_SECONDS": "1",
    }
    celery_worker(**broker)
    celery_beat(**broker)

    private_redis.stop()
    with use_broker(private_redis.url), transaction.atomic():
        enqueue("tests.probe_record", label)
    # The commit succeeded although the broker was down; the task waits in PostgreSQL.
    row = OutboxTask.objects.get()
    assert row.published_at is None
    assert row.attempts == 1
    assert "Error" in row.last_error
    time.sleep(3)
    assert probe_rows(label) == []

    # Redis comes back (empty: it kept nothing), on the same port.
    back = start_redis(private_redis.log.parent, port=private_redis.port, persist=False)
    try:
        assert back.port == private_redis.port
        wait_until(lambda: probe_rows(label), timeout=45)
        wait_until(lambda: OutboxTask.objects.get().published_at, timeout=10)
    finally:
        back.stop()
    assert len(probe_rows(label)) == 1


def test_worker_killed_mid_task_finishes_on_a_restarted_worker(celery_worker: Any) -> None:
    ensure_probe_table()
    label = f"kill-{uuid.uuid4()}"
    # Visibility timeout above the task's run time (10 x 0.4 s), short enough for a test.
    fast_redelivery = {"CELERY_VISIBILITY_TIMEOUT": "8"}
    first = celery_worker(**fast_redelivery)

    enqueue("tests.slow_steps", label, 10, 0.4)
    wait_until(lambda: len(probe_rows(label)) >= 3, timeout=20)
    first.kill()
    steps_before = {step for step, _ in probe_rows(label)}
    assert 3 <= len(steps_before) < 10

    second = celery_worker(**fast_redelivery)
    rows = wait_until(lambda: (r := probe_rows(label)) and len(r) == 10 and r, timeout=60)

    assert [step for step, _ in rows] == list(range(1, 11))
    pids_after = {pid for step, pid in rows if step not in steps_before}
    assert second.process.pid not in pids_after  # the pool child ran it, not the main process
    assert all(pid != first.process.pid for pid in pids_after)
