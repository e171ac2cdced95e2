"""The sunset rule's join is planned as a hash join whatever the statistics say.

After a bulk load or a restore that autovacuum has not analysed yet, PostgreSQL believes a
segment is a row or two and joins it with the engaged set in a nested loop, comparing every
recipient with every engaged id: measured on 30,000 supporters, a fan-out of 48 s instead of
0.08 s (bench/scale.py's third mailing). mailing.engagement.hash_joined rules the loop out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaign.models import ConsentText
from mailing import services
from mailing.engagement import hash_joined
from tests.mailing.factories import MailingFactory, SegmentFactory
from tests.mailing.sunset_people import sunset_people

pytestmark = pytest.mark.django_db


def _nodes(plan: dict[str, Any]) -> Iterator[str]:
    yield plan["Node Type"]
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_the_fan_out_joins_the_segment_and_the_engaged_set_by_hashing(
    consent_text: ConsentText,
) -> None:
    sunset_people(consent_text)
    mailing = MailingFactory(segment=SegmentFactory())
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now() + timedelta(days=1))

    with CaptureQueriesContext(connection) as queries:
        services.mailing_tick(now=timezone.now() + timedelta(days=2))
    statements = [q["sql"] for q in queries.captured_queries]
    [insert] = [
        i for i, sql in enumerate(statements) if sql.startswith("INSERT INTO mailing_delivery")
    ]
    # The setting is made in the fan-out's own transaction (SET LOCAL), before its insert.
    setting = statements.index("SET LOCAL enable_nestloop = off")
    assert setting < insert
    assert "LEFT JOIN" in statements[insert], "the sunset rule applies to this mailing"

    select = statements[insert][statements[insert].index("SELECT") :]
    with hash_joined(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {select}")
        [[plan]] = cursor.fetchone()
    nodes = list(_nodes(plan["Plan"]))
    # Hash (or merge) joins: each side read once, whatever the sizes.
    assert "Nested Loop" not in nodes, nodes
    assert {"Hash Join", "Merge Join"} & set(nodes), nodes
