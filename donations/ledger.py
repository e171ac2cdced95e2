"""The append-only ledger: one row per Stripe balance movement, written once whatever the
order or number of deliveries, and the donation status derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet

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
    constraint decides, inside a savepoint so the caller's transaction goes on.
    """
    try:
        with transaction.atomic():
            Transaction.objects.create(
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
            )
    except IntegrityError:
        return False
    return True


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
    refunded = -amounts.get(TransactionKind.REFUND, 0)
    if refunded and refunded >= gift:
        return DonationStatus.REFUNDED
    if refunded:
        return DonationStatus.PARTIALLY_REFUNDED
    if gift:
        return DonationStatus.PAID
    return None


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
