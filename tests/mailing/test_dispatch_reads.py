"""Each tick's dispatch reads the rows it publishes, not every queued row of a mailing.

A big mailing's rows stay queued, published, for minutes while the workers work through them;
the tick runs every MAILING_TICK_SECONDS meanwhile. Reading all of them to find the few never
published (or published long ago and lost) cost 0.1-0.25 s of PostgreSQL a tick at a million
recipients. Two partial indexes (Delivery.Meta) serve the dispatch's two looks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaign.models import ConsentText
from mailing import services
from mailing.models import Delivery
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import MailingFactory

pytestmark = pytest.mark.django_db

QUEUED = 3000


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if plan.get("Relation Name") == Delivery._meta.db_table:
        yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


def test_a_tick_reads_only_the_rows_it_publishes(
    consent_text: ConsentText, clean_broker: None
) -> None:
    supporters_bulk(QUEUED, text=consent_text)
    mailing = MailingFactory()
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    now = timezone.now() + timedelta(minutes=1)
    services.mailings_fan_out(now)
    rows = Delivery.objects.filter(message__mailing=mailing).order_by("id")
    ids = list(rows.values_list("id", flat=True))
    assert len(ids) == QUEUED
    # The first ticks published them all; two came back (their batch's server was away) and
    # one was published long ago and is still queued (its task lost).
    rows.update(dispatched_at=now)
    Delivery.objects.filter(pk__in=ids[100:102]).update(dispatched_at=None)
    lost_at = now - timedelta(seconds=settings.MAILING_REDISPATCH_SECONDS * 20)
    Delivery.objects.filter(pk=ids[2000]).update(dispatched_at=lost_at)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Delivery._meta.db_table}")

    params = {
        "now": now,
        "stale": now - timedelta(seconds=settings.MAILING_REDISPATCH_SECONDS * 10),
        "limit": settings.MAILING_DISPATCH_LIMIT,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {services.dispatch_sql()}", params)
        [[explained]] = cursor.fetchone()
        transaction.set_rollback(True)
    scans = list(_scans(explained["Plan"]))
    read = sum(
        s["Actual Rows"] * s["Actual Loops"] + s.get("Rows Removed by Filter", 0) for s in scans
    )
    # The three it publishes and their UPDATE's look-ups by id, not the 3,000 queued.
    assert read <= 12, (read, scans)

    # And the tick's dispatch (the broker holds no send task: lost after 30 s) publishes
    # exactly those three.
    tick = now + timedelta(seconds=1)
    assert services.deliveries_dispatch(tick) == 3
    published = set(rows.filter(dispatched_at=tick).values_list("id", flat=True))
    assert published == {ids[100], ids[101], ids[2000]}
