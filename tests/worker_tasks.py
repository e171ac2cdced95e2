"""Tasks that exist only for the test suite; the worker subprocess loads them with --include.

They record what they did in a plain table (harness_probe), so a test can see from PostgreSQL
what ran in another process and how often.
"""

from __future__ import annotations

import os
import time

from celery import shared_task
from django.db import connection

PROBE_TABLE = """
CREATE TABLE IF NOT EXISTS harness_probe (
    label text NOT NULL,
    step integer NOT NULL DEFAULT 0,
    pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (label, step)
)
"""


def ensure_probe_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(PROBE_TABLE)


def probe_rows(label: str) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT step, pid FROM harness_probe WHERE label = %s ORDER BY step", [label]
        )
        return [(int(step), int(pid)) for step, pid in cursor.fetchall()]


def _record(label: str, step: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO harness_probe (label, step, pid) VALUES (%s, %s, %s) "
            "ON CONFLICT (label, step) DO NOTHING",
            [label, step, os.getpid()],
        )
        return cursor.rowcount == 1


@shared_task(name="tests.probe_record")
def probe_record(label: str) -> None:
    ensure_probe_table()
    _record(label, 0)


@shared_task(name="tests.slow_steps")
def slow_steps(label: str, steps: int, delay: float) -> None:
    """Long and idempotent: a re-delivered run skips the steps already recorded."""
    ensure_probe_table()
    done = {step for step, _ in probe_rows(label)}
    for step in range(1, steps + 1):
        if step in done:
            continue
        time.sleep(delay)
        _record(label, step)


@shared_task(name="tests.fail_with_personal_data")
def fail_with_personal_data(supporter_id: int) -> None:
    """Fails as careless code would: the person's name, address and link in the log and the
    message (tests/ops/test_sentry.py checks that none of it reaches Sentry)."""
    import logging

    from campaign.emails import supporter_link_token
    from campaign.models import Supporter

    supporter = Supporter.objects.get(pk=supporter_id)
    link = supporter_link_token(supporter)
    logging.getLogger(__name__).warning("reaching %s at %s", supporter.first_name, supporter.email)
    raise RuntimeError(f"could not reach {supporter.first_name} <{supporter.email}> via {link}")


@shared_task(name="tests.backend_record")
def backend_record(label: str, step: int) -> None:
    """Records the PostgreSQL backend that served it (in `pid`): which connection a task got."""
    ensure_probe_table()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO harness_probe (label, step, pid) VALUES (%s, %s, pg_backend_pid())",
            [label, step],
        )
