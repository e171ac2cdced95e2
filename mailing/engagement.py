"""The sunset rule: campaign mailings leave out people who have shown no sign of life in
MAILING_SUNSET_DAYS. Mailing to addresses nobody reads any more is what spam traps and
"inactive" mailbox heuristics catch, and what Gmail and Yahoo's bulk-sender rules ask senders
to stop. We keep no open pixel, so the signs of life are what a person does:

- clicked a link in one of our emails (mailing.Click; link scanners are never recorded),
- gave (mailing.GiftAttribution, the mailing side's record of every gift),
- confirmed a consent (campaign.Consent.confirmed_at: a sign-up, a re-subscribe),
- changed their preferences (campaign.SupporterAudit, by the supporter).

Only one-off mailings to a segment apply it, and never silently: the schedule page says how
many it leaves out, staff can include them per mailing (a re-engagement mailing), and the
results count them as skipped (reason "sunset"). Sequences do not: they start on the person's
own action (a confirmation, a first gift) or on staff's explicit enrolment, and transactional
mail (confirmations, thank-yous, donor notices) is never a campaign mailing. See DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from campaign.models import Consent, SupporterAudit
from mailing.models import Click, Delivery, GiftAttribution, Mailing
from mailing.segments import SegmentFilter
from mailing.selectors import recipients


def sunset_cutoff(now: datetime) -> datetime | None:
    days = settings.MAILING_SUNSET_DAYS
    return now - timedelta(days=days) if days else None


def sunset_applies(mailing: Mailing) -> bool:
    return bool(settings.MAILING_SUNSET_DAYS) and not mailing.include_sunset


def engaged_sql(cutoff: datetime) -> tuple[str, list[Any]]:
    """The ids of supporters with a sign of life since `cutoff`, once each (UNION), as SQL to
    join against. A join, not `id IN (...)` per row: with a million recent sign-ups the id set
    outgrows work_mem, and PostgreSQL then hash-joins (spilling if it must) instead of
    scanning the set once per supporter."""
    sql = f"""
        SELECT d.supporter_id FROM {Click._meta.db_table} c
        JOIN {Delivery._meta.db_table} d ON d.id = c.delivery_id WHERE c.clicked_at >= %s
        UNION SELECT supporter_id FROM {GiftAttribution._meta.db_table}
        WHERE created_at >= %s AND supporter_id IS NOT NULL
        UNION SELECT supporter_id FROM {Consent._meta.db_table} WHERE confirmed_at >= %s
        UNION SELECT supporter_id FROM {SupporterAudit._meta.db_table}
        WHERE created_at >= %s AND action = %s AND actor = %s AND supporter_id IS NOT NULL
    """  # noqa: S608 - table names are ours
    preferences = (SupporterAudit.Action.PREFERENCES_CHANGED, SupporterAudit.Actor.SUPPORTER)
    return sql, [cutoff, cutoff, cutoff, cutoff, *preferences]


@contextmanager
def hash_joined() -> Iterator[CursorWrapper]:
    """A transaction whose queries join a whole segment with the engaged set by hashing, not
    by a nested loop. The planner picks the loop when its statistics say the segment is a row
    or two, as they do after a bulk load or a restore not yet analysed (autovacuum catches up
    within minutes): the loop then compares every recipient with every engaged id. Measured
    on 30,000 supporters, all engaged: 48 s instead of 0.08 s; at a million, hours."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_nestloop = off")
        yield cursor


def sunset_left_out_count(*, segment: SegmentFilter, topic: str, now: datetime) -> int:
    """How many of a segment's recipients the sunset rule would leave out now."""
    cutoff = sunset_cutoff(now)
    if cutoff is None:
        return 0
    members, member_params = (
        recipients(segment=segment, topic=topic)
        .order_by()
        .values_list("id")
        .query.sql_with_params()
    )
    engaged, engaged_params = engaged_sql(cutoff)
    with hash_joined() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM ({members}) r "  # noqa: S608 - built from our own queries
            f"LEFT JOIN ({engaged}) e ON e.supporter_id = r.id WHERE e.supporter_id IS NULL",
            [*member_params, *engaged_params],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0
