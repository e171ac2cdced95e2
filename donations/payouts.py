"""Payout reconciliation: what Stripe says each payout settled against our own ledger.

Stripe's side is the PayoutLine rows (the balance transactions Stripe listed for the payout,
its own `payout` transaction included, stored on `payout.reconciliation_completed`); ours is
the ledger (Transaction), matched by `stripe_balance_transaction`. Adding up Stripe's lines
against Stripe's payout amount always agrees (issue 12): only the ledger can be wrong, so the
ledger is what we compare. A payout is ok when nothing differs:

- not in ledger: a balance transaction the payout settled that no ledger row records;
- not settled: a ledger row that names this payout (`stripe_payout`) that the payout did not
  settle, or (overview) a row old enough to have been paid out that no payout settled;
- amounts differ: a settled balance transaction whose ledger rows carry another amount, fee,
  net or currency (two rows booking one transaction show here too, as a doubled amount).

A payout whose lines Stripe has not reported is not ok either: its own ledger row then
shows as not settled. Reads only our rows: no Stripe call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from django.db.models import Max, QuerySet

from donations.exports import period_bounds
from donations.models import PayoutLine, Transaction, TransactionKind

# A balance transaction is due in a payout this long after it happened: Stripe makes funds
# available within 7 days (SEPA Direct Debit, the slowest we take; cards and iDEAL in 2-3)
# and pays out what is available on the payout schedule (daily, or weekly at worst). A
# ledger row older than this, counted back from the newest payout whose lines Stripe reported
# (not from today: while payouts are paused nothing is overdue), should have been settled.
SETTLEMENT_DAYS = 14


class Problem(StrEnum):
    NOT_IN_LEDGER = "not_in_ledger"
    NOT_SETTLED = "not_settled"
    AMOUNTS_DIFFER = "amounts_differ"


@dataclass(frozen=True)
class Money:
    """One side's figures for a balance transaction, in cents (Stripe's signs, as the ledger)."""

    amount: int
    fee: int
    net: int
    currency: str


@dataclass(frozen=True)
class Difference:
    problem: Problem
    balance_transaction: str  # blank for a ledger row without one
    kind: str  # Stripe's balance transaction type, else the ledger row's kind
    stripe: Money | None  # what Stripe settled (None: it did not)
    ledger: Money | None  # what the ledger books (None: no row)
    ledger_rows: tuple[int, ...] = ()  # Transaction ids
    occurred_at: datetime | None = None  # the ledger row's time, when there is one


@dataclass(frozen=True)
class PayoutReconciliation:
    """One payout: Stripe's settled lines against our ledger, in cents."""

    payout: str
    currency: str
    amount: int  # to the bank (positive): the ledger's payout row, else Stripe's payout line
    lines: int  # balance transactions Stripe says it settled, its own included
    stripe_net: int  # net of what it settled, its own line left out (= amount at Stripe)
    ledger_net: int  # net of the ledger rows matched to it, its payout row left out
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lines > 0 and not self.differences

    @property
    def flagged(self) -> bool:
        return not self.ok

    def of(self, problem: Problem) -> list[Difference]:
        return [d for d in self.differences if d.problem == problem]


class LedgerRow(NamedTuple):
    """The fields of a Transaction we compare: tuples, not model instances (a 100,000-line
    payout took 20 s building Transactions, most of it in their init signals)."""

    pk: int
    kind: str
    amount: int
    fee: int
    net: int
    currency: str
    stripe_balance_transaction: str
    stripe_object: str
    occurred_at: datetime


class SettledLine(NamedTuple):
    balance_transaction: str
    type: str
    amount: int
    fee: int
    net: int
    currency: str


def _ledger_rows(rows: QuerySet[Transaction]) -> list[LedgerRow]:
    return [LedgerRow(*values) for values in rows.values_list(*LedgerRow._fields)]


def _money(rows: list[LedgerRow]) -> Money:
    return Money(
        amount=sum(row.amount for row in rows),
        fee=sum(row.fee for row in rows),
        net=sum(row.net for row in rows),
        currency=",".join(sorted({row.currency.lower() for row in rows})),
    )


def _line_money(line: SettledLine) -> Money:
    return Money(line.amount, line.fee, line.net, line.currency.lower())


def _not_settled(row: LedgerRow) -> Difference:
    return Difference(
        problem=Problem.NOT_SETTLED,
        balance_transaction=row.stripe_balance_transaction,
        kind=row.kind,
        stripe=None,
        ledger=_money([row]),
        ledger_rows=(row.pk,),
        occurred_at=row.occurred_at,
    )


def _compare(line: SettledLine, rows: list[LedgerRow]) -> Difference | None:
    stripe = _line_money(line)
    if not rows:
        return Difference(Problem.NOT_IN_LEDGER, line.balance_transaction, line.type, stripe, None)
    ledger = _money(rows)
    if ledger == stripe:
        return None
    return Difference(
        problem=Problem.AMOUNTS_DIFFER,
        balance_transaction=line.balance_transaction,
        kind=line.type,
        stripe=stripe,
        ledger=ledger,
        ledger_rows=tuple(row.pk for row in rows),
        occurred_at=min(row.occurred_at for row in rows),
    )


def payout_reconciliation(payout: str) -> PayoutReconciliation:
    lines = [
        SettledLine(*values)
        for values in PayoutLine.objects.filter(payout=payout)
        .order_by("pk")
        .values_list(*SettledLine._fields)
    ]
    settled = PayoutLine.objects.filter(payout=payout).values("balance_transaction")
    # Two queries, not one with OR: PostgreSQL runs `IN (subquery) OR ...` as a filter over
    # the whole ledger (seconds on 100,000 rows), the IN alone as a join.
    by_settled = Transaction.objects.filter(stripe_balance_transaction__in=settled)
    claiming = Transaction.objects.filter(stripe_payout=payout)
    rows = {row.pk: row for query in (by_settled, claiming) for row in _ledger_rows(query)}
    ledger = sorted(rows.values(), key=lambda row: (row.occurred_at, row.pk))
    by_balance: dict[str, list[LedgerRow]] = {}
    for row in ledger:
        if row.stripe_balance_transaction:
            by_balance.setdefault(row.stripe_balance_transaction, []).append(row)
    differences = [
        d for line in lines if (d := _compare(line, by_balance.get(line.balance_transaction, [])))
    ]
    known = {line.balance_transaction for line in lines}
    differences += [
        _not_settled(row) for row in ledger if row.stripe_balance_transaction not in known
    ]
    own_row = next(
        (r for r in ledger if r.kind == TransactionKind.PAYOUT and r.stripe_object == payout), None
    )
    own_line = next((line for line in lines if line.type == "payout"), None)
    amount = -own_row.amount if own_row else (-own_line.amount if own_line else 0)
    currency = own_row.currency if own_row else (own_line.currency if own_line else "")
    return PayoutReconciliation(
        payout=payout,
        currency=currency.lower(),
        amount=amount,
        lines=len(lines),
        stripe_net=sum(line.net for line in lines if line.type != "payout"),
        ledger_net=sum(row.net for row in ledger if row.kind != TransactionKind.PAYOUT),
        differences=differences,
    )


@dataclass(frozen=True)
class PayoutOverview:
    """Every payout of a period, and the ledger rows of the period no payout settled though
    they were due (see SETTLEMENT_DAYS)."""

    payouts: list[PayoutReconciliation]
    not_paid_out: list[Difference]
    due_before: datetime | None  # rows before this should be in a payout; None: no payout yet

    @property
    def flagged(self) -> int:
        return sum(result.flagged for result in self.payouts)

    @property
    def ok(self) -> bool:
        return self.flagged == 0 and not self.not_paid_out


def _payouts_in(start: datetime, end: datetime) -> list[str]:
    """Payouts booked in the period (arrival date), and those Stripe reported lines for in the
    period that the ledger has no payout row for (a lost `payout.paid` must still show)."""
    booked = Transaction.objects.filter(
        kind=TransactionKind.PAYOUT, occurred_at__gte=start, occurred_at__lt=end
    ).order_by("occurred_at", "pk")
    ids = list(dict.fromkeys(booked.values_list("stripe_object", flat=True)))
    unbooked = (
        PayoutLine.objects.filter(created_at__gte=start, created_at__lt=end)
        .exclude(
            payout__in=Transaction.objects.filter(kind=TransactionKind.PAYOUT).values(
                "stripe_object"
            )
        )
        .order_by("created_at", "pk")
        .values_list("payout", flat=True)
    )
    return ids + [p for p in dict.fromkeys(unbooked) if p not in ids]


def payout_due_before() -> datetime | None:
    """Ledger rows older than this should have been settled by a payout by now."""
    settled_payouts = PayoutLine.objects.values("payout")
    newest_booked = Transaction.objects.filter(
        kind=TransactionKind.PAYOUT, stripe_object__in=settled_payouts
    ).aggregate(newest=Max("occurred_at"))["newest"]
    newest_reported = PayoutLine.objects.aggregate(newest=Max("created_at"))["newest"]
    newest = max((t for t in (newest_booked, newest_reported) if t is not None), default=None)
    return newest - timedelta(days=SETTLEMENT_DAYS) if newest is not None else None


def ledger_not_paid_out(start: datetime, end: datetime, due_before: datetime) -> list[Difference]:
    """Ledger rows of [start, end) older than due_before that no payout settled."""
    rows = (
        Transaction.objects.exclude(kind=TransactionKind.PAYOUT)
        .filter(occurred_at__gte=start, occurred_at__lt=min(end, due_before))
        .exclude(stripe_balance_transaction__in=PayoutLine.objects.values("balance_transaction"))
        .order_by("occurred_at", "pk")
    )
    return [_not_settled(row) for row in _ledger_rows(rows)]


def payouts_overview(*, since: date, until: date) -> PayoutOverview:
    start, end = period_bounds(since, until)
    payouts = [payout_reconciliation(payout) for payout in _payouts_in(start, end)]
    due_before = payout_due_before()
    overdue = ledger_not_paid_out(start, end, due_before) if due_before is not None else []
    # A row that names a payout shown above is reported there already.
    shown = {pk for result in payouts for d in result.differences for pk in d.ledger_rows}
    not_paid_out = [d for d in overdue if not shown.intersection(d.ledger_rows)]
    return PayoutOverview(payouts=payouts, not_paid_out=not_paid_out, due_before=due_before)
