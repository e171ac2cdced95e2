"""The append-only ledger: one row per Stripe balance movement, written once whatever the
order or number of deliveries, and the donation status derived from it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from backoffice.audit import inserted
from donations.models import STATUS_RANK, Donation, DonationStatus, Transaction, TransactionKind


@dataclass(frozen=True)
class Movement:
    kind: TransactionKind
    stripe_object: str
    amount: int
    fee: int
    currency: str
    occurred_at: datetime
    stripe_payment_intent: str = ""
    stripe_charge: str = ""
    stripe_balance_transaction: str = ""
    stripe_payout: str = ""
    description: str = ""


def ledger_record(*, movement: Movement, donation: Donation | None) -> bool:
    """Write the movement unless (stripe_object, kind) is already in the ledger.

    Returns True when this call wrote the row. Safe under concurrent workers: the unique
    constraint decides, in one statement (INSERT ... ON CONFLICT DO NOTHING: a plain INSERT
    would need a savepoint around it to survive the violation, two more round trips per row
    on the drain's path). post_save is sent for the new row as create() would send it, so the
    audit log records it (backoffice.audit.inserted).
    """
    row = _row(movement, donation)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ONCE, [getattr(row, column) for column in _COLUMNS])
        written = cursor.fetchone()
    if written is None:
        return False
    row.pk = written[0]
    inserted(row, using=connection.alias)
    return True


def ledger_record_all(entries: Sequence[tuple[Movement, Donation | None]]) -> list[bool]:
    """ledger_record for many movements in one statement (a drain batch's gifts): whether each
    one's row was written by this call."""
    rows = [_row(movement, donation) for movement, donation in entries]
    if not rows:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ALL_ONCE, [[getattr(row, column) for row in rows] for column in _COLUMNS]
        )
        ids = {(kind, stripe_object): pk for pk, kind, stripe_object in cursor.fetchall()}
    written = []
    for row in rows:
        row.pk = ids.pop((row.kind, row.stripe_object), None)  # a repeat in `entries`: not written
        written.append(row.pk is not None)
        if row.pk is not None:
            inserted(row, using=connection.alias)
    return written


def _row(movement: Movement, donation: Donation | None) -> Transaction:
    return Transaction(
        kind=movement.kind,
        donation=donation,
        amount=movement.amount,
        fee=movement.fee,
        net=movement.amount - movement.fee,
        currency=movement.currency.lower(),
        stripe_object=movement.stripe_object,
        stripe_payment_intent=movement.stripe_payment_intent,
        stripe_charge=movement.stripe_charge,
        stripe_balance_transaction=movement.stripe_balance_transaction,
        stripe_payout=movement.stripe_payout,
        occurred_at=movement.occurred_at,
        description=movement.description[:255],
        recorded_at=timezone.now(),
    )


_COLUMNS = (
    "kind",
    "donation_id",
    "amount",
    "fee",
    "net",
    "currency",
    "stripe_object",
    "stripe_payment_intent",
    "stripe_charge",
    "stripe_balance_transaction",
    "stripe_payout",
    "occurred_at",
    "recorded_at",
    "description",
)
# Each column's type, for the arrays of ledger_record_all.
_COLUMN_TYPES = (
    "text",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "text",
)
_INSERT_ONCE = f"""
INSERT INTO donations_transaction ({", ".join(_COLUMNS)})
VALUES ({", ".join(["%s"] * len(_COLUMNS))})
ON CONFLICT (stripe_object, kind) DO NOTHING
RETURNING id
"""  # noqa: S608 - column names only, all ours; the values are parameters
# The same, a row per element of one array per column.
_INSERT_ALL_ONCE = f"""
INSERT INTO donations_transaction ({", ".join(_COLUMNS)})
SELECT * FROM unnest({", ".join(f"%s::{kind}[]" for kind in _COLUMN_TYPES)})
ON CONFLICT (stripe_object, kind) DO NOTHING
RETURNING id, kind, stripe_object
"""  # noqa: S608 - as above


# The first key of PostgreSQL's two-key advisory locks that stands for "a payment intent".
_PAYMENT_INTENT_LOCKS = 4_041_001


def payment_intent_lock(intent_id: str) -> None:
    """Hold the payment intent until the transaction ends.

    A monthly payment's refund can be applied while another worker is still creating the
    donation it refunds: each would miss the other's uncommitted rows, leaving the refund
    unlinked and the donation 'paid'. Every handler that links ledger rows to a donation by
    payment intent takes this lock first, so the second one reads what the first committed.
    Waiting for it obeys the drain's lock_timeout like any row lock.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_PAYMENT_INTENT_LOCKS, intent_id]
        )


def payment_intent_locks(intent_ids: Iterable[str]) -> None:
    """payment_intent_lock for several payment intents in one statement, taken in sorted order
    (as any two drains then take them: neither holds one the other waits for first)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(intent)) FROM unnest(%s::text[]) AS intent",
            [_PAYMENT_INTENT_LOCKS, sorted(set(intent_ids))],
        )


def donation_transactions(donation: Donation) -> QuerySet[Transaction]:
    """The donation's ledger rows, including any recorded before we knew which donation a
    payment intent belonged to (a refund delivered before the payment it refunds)."""
    match = Q(donation=donation)
    if donation.stripe_payment_intent:
        match |= Q(stripe_payment_intent=donation.stripe_payment_intent)
    return Transaction.objects.filter(match)


def status_from_ledger(donation: Donation) -> DonationStatus | None:
    """What the ledger says about a donation; None when it has no movement yet."""
    amounts: dict[str, int] = {}
    for kind, amount in donation_transactions(donation).values_list("kind", "amount"):
        amounts[kind] = amounts.get(kind, 0) + amount
    if TransactionKind.DISPUTE in amounts:
        return DonationStatus.DISPUTED
    gift = amounts.get(TransactionKind.GIFT, 0)
    if not gift:
        # A refund applied before its payment's events says nothing yet: measured against no
        # gift it would read as refunded in full, and a status never moves back.
        return None
    refunded = -amounts.get(TransactionKind.REFUND, 0)
    if refunded >= gift:
        return DonationStatus.REFUNDED
    if refunded:
        return DonationStatus.PARTIALLY_REFUNDED
    return DonationStatus.PAID


def status_forward(donation: Donation, status: DonationStatus | None) -> bool:
    """Set a later status on the instance, unsaved (the caller saves it with its other
    changes, one UPDATE); False when `status` would not move it forward."""
    if status is None or STATUS_RANK[status] <= STATUS_RANK[DonationStatus(donation.status)]:
        return False
    donation.status = status
    return True


def donation_advance(donation: Donation, status: DonationStatus | None) -> bool:
    """Move the status forward only: a late 'processing' never undoes 'paid'."""
    if not status_forward(donation, status):
        return False
    donation.save(update_fields=["status", "updated_at"])
    return True


def from_timestamp(value: int | None) -> datetime:
    return datetime.fromtimestamp(value or 0, tz=UTC)
