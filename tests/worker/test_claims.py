"""A queue's claim reads only the rows it takes, however long the queue and however stale the
planner's statistics (worker/claims.py), on real PostgreSQL's plans."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction

from donations.inbox import claim_query
from donations.models import EventStatus, StripeEvent
from worker.claims import index_order

pytestmark = [pytest.mark.django_db(transaction=True)]
BACKLOG = 3000


def _events(count: int, start: int, status: str = EventStatus.RECEIVED) -> list[StripeEvent]:
    return [
        StripeEvent(
            stripe_id=f"evt_claim_{start + i}",
            type="checkout.session.completed",
            # A Checkout Session event is a few kilobytes that do not compress to nothing.
            payload={"id": f"evt_claim_{start + i}", "padding": os.urandom(1000).hex()},
            status=status,
        )
        for i in range(count)
    ]


@pytest.fixture
def storm_backlog() -> Iterator[None]:
    """A backlog that outran autoanalyze: statistics taken when 5,000 events were applied and
    10 waiting, then 3,000 more stored (autovacuum kept off the table meanwhile, so it cannot
    refresh them), as in the middle of bench/webhook_storm.py."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE donations_stripeevent SET (autovacuum_enabled = false)")
    # Stored waiting, then applied, as the drain does: each applied row leaves a dead version.
    StripeEvent.objects.bulk_create(_events(5000, 0), batch_size=500)
    StripeEvent.objects.update(status=EventStatus.PROCESSED)
    StripeEvent.objects.bulk_create(_events(10, 5000))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE donations_stripeevent")
    StripeEvent.objects.bulk_create(_events(BACKLOG, 5010), batch_size=500)
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE donations_stripeevent RESET (autovacuum_enabled)")


def _claim_plan() -> dict[str, Any]:
    sql, params = claim_query(20).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    top: dict[str, Any] = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return top


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _blocks(plan: dict[str, Any]) -> int:
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


def _ordered_plan() -> dict[str, Any]:
    with transaction.atomic():
        with index_order():
            plan = _claim_plan()
        transaction.set_rollback(True)
    return plan


def test_a_claim_reads_its_own_rows_not_the_whole_backlog(storm_backlog: None) -> None:
    # The first scan in the index's order marks the applied events' old entries dead, as the
    # drain's claims do one after another in a storm; those after it step over them.
    _ordered_plan()
    with transaction.atomic():
        planned = _claim_plan()
        transaction.set_rollback(True)
    # The world as the drain found it: every waiting row read (and sorted) for 20 of them.
    read = max(node["Actual Rows"] for node in _nodes(planned) if "Scan" in node["Node Type"])
    assert read >= BACKLOG, [(n["Node Type"], n["Actual Rows"]) for n in _nodes(planned)]

    ordered = _ordered_plan()
    scans = [node for node in _nodes(ordered) if node["Node Type"] == "Index Scan"]
    assert [scan["Index Name"] for scan in scans] == ["stripeevent_waiting_idx"]
    assert "Sort" not in {node["Node Type"] for node in _nodes(ordered)}
    assert ordered["Actual Rows"] == 20
    assert scans[0]["Actual Rows"] <= 40  # its 20 rows, not the backlog
    assert _blocks(ordered) < 40, _blocks(ordered)  # its 20 rows and a few index pages


def test_the_planner_settings_end_with_the_block() -> None:
    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_sort")
            return str(cursor.fetchone()[0])

    with transaction.atomic():
        with index_order():
            assert setting() == "off"
        assert setting() == "on"
    with pytest.raises(RuntimeError), index_order():
        pass
