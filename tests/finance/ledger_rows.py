"""Many ledger rows, fast: SQL generate_series (as bench/export.py), not one ORM call a row.

The ledger's append-only trigger allows INSERT. Every row is a gift of a small set of
donations, one row every STEP seconds from START (Europe/Amsterdam)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import connection

from tests.factories import DonationFactory

START = datetime(2025, 3, 1, tzinfo=ZoneInfo("Europe/Amsterdam"))
FIRST_DAY = date(2025, 3, 1)
LAST_DAY = date(2025, 3, 31)
STEP = 10  # seconds: 100,000 rows span 11.6 days, inside March 2025

LEDGER_SQL = """
INSERT INTO donations_transaction (kind, donation_id, amount, fee, net, currency,
    stripe_object, stripe_payment_intent, stripe_charge, stripe_balance_transaction,
    stripe_payout, occurred_at, recorded_at, description)
SELECT 'gift', (%(ids)s::bigint[])[g %% cardinality(%(ids)s::bigint[]) + 1],
    2500 + g %% 977, 29, 2500 + g %% 977 - 29, 'eur',
    'ch_bulk_' || g, 'pi_bulk_' || g, 'ch_bulk_' || g, 'txn_bulk_' || g, '',
    %(start)s + g * %(step)s * interval '1 second', now(), ''
FROM generate_series(0, %(rows)s - 1) g
"""


def ledger_rows(rows: int, *, donations: int = 50) -> None:
    """Insert `rows` gift rows in March 2025, spread over `donations` donations."""
    ids = [donation.pk for donation in DonationFactory.create_batch(donations)]
    with connection.cursor() as cursor:
        cursor.execute(LEDGER_SQL, {"ids": ids, "rows": rows, "start": START, "step": STEP})
