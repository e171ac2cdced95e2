"""Claiming rows of a queue kept in PostgreSQL, in its index's order.

A claim is `ORDER BY <indexed column> LIMIT n FOR UPDATE SKIP LOCKED` over a partial index of
the waiting rows. With statistics taken while the queue was short (a storm outruns
autoanalyze), the planner expects a handful of waiting rows and reads every one of them
(a bitmap scan), sorts them, payloads and all, and keeps n: 3-10 ms a claim with a backlog
of a thousand, the largest share of the Stripe drain's database time in
bench/webhook_storm.py. Read in the index's order, a claim stops after its n rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

_SETTINGS = ("enable_bitmapscan", "enable_seqscan", "enable_sort")
_ORDERED = "; ".join(f"SET LOCAL {name} = off" for name in _SETTINGS)
_DEFAULT = "; ".join(f"SET LOCAL {name} TO DEFAULT" for name in _SETTINGS)


@contextmanager
def index_order() -> Iterator[None]:
    """Within the block, queries read rows in an index's order rather than collect and sort
    them (or read the whole table for the first waiting row). Only inside a transaction (SET
    LOCAL); an error in the block rolls the settings back with the transaction or savepoint,
    so they are restored only on success."""
    if not connection.in_atomic_block:
        raise RuntimeError("index_order() needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute(_ORDERED)
    yield
    with connection.cursor() as cursor:
        cursor.execute(_DEFAULT)
