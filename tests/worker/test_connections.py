"""A worker keeps its database connection from task to task, as a web process keeps it from
request to request (worker/connections.py), and still drops one that is too old or broken.

The worker connects to PostgreSQL directly even when the suite runs through PgBouncer: behind
it a client's transactions reach whichever server connection is free, so the backend serving a
task says nothing about the worker's own connection (and terminating one would cut another
client's)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.db import connection

from tests.harness.processes import direct_database_url_for_subprocess
from tests.harness.waiting import wait_until
from tests.worker_tasks import ensure_probe_table, probe_rows
from worker.outbox import enqueue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _direct(**env: str) -> dict[str, str]:
    return {"DATABASE_URL": direct_database_url_for_subprocess(), "DB_POOLER": "none", **env}


def _run(label: str, step: int) -> int:
    """One task through the broker; the backend pid that served it."""
    enqueue("tests.backend_record", label, step)
    backend = wait_until(lambda: dict(probe_rows(label)).get(step), timeout=30)
    return int(backend)


def test_tasks_in_a_row_share_one_database_connection(celery_worker: Any) -> None:
    ensure_probe_table()
    celery_worker(**_direct())
    label = uuid.uuid4().hex
    backends = [_run(label, step) for step in range(1, 6)]
    # Celery's own Django fixup would have opened a new one for each task.
    assert len(set(backends)) == 1, backends


def test_a_connection_killed_between_tasks_is_replaced_and_the_next_task_runs(
    celery_worker: Any,
) -> None:
    ensure_probe_table()
    celery_worker(**_direct())
    label = uuid.uuid4().hex
    first = _run(label, 1)
    with connection.cursor() as cursor:  # a database restart, for that one session
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    wait_until(lambda: not _alive(first), timeout=10)
    second = _run(label, 2)
    assert second != first
    assert _run(label, 3) == second


def test_a_connection_older_than_its_max_age_is_closed_between_tasks(celery_worker: Any) -> None:
    ensure_probe_table()
    celery_worker(**_direct(DB_CONN_MAX_AGE="1"))
    label = uuid.uuid4().hex
    first = _run(label, 1)
    time.sleep(1.5)
    second = _run(label, 2)
    assert second != first
    wait_until(lambda: not _alive(first), timeout=10)  # closed, not left behind


def _alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        (count,) = cursor.fetchone()
    return bool(count)
