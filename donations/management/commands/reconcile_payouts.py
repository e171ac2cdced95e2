"""`manage.py reconcile_payouts --since YYYY-MM-DD --until YYYY-MM-DD`: each payout booked in
the period against our ledger (donations.payouts), from our own rows (no Stripe call).

One line per payout, then one line per difference under it, then the ledger rows of the period
that were due in a payout but no payout settled. Exit status 1 when anything differs, so a
scheduled run alerts. Export one payout's rows with `export_transactions --payout ID`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from donations.payouts import Difference, Money, PayoutReconciliation, payouts_overview

# A period near year 9999 would overflow its end; none of ours lies outside these years.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _euros(cents: int) -> str:
    # Decimal, not float: a figure finance compares with the bank must be exact.
    return f"{Decimal(cents) / 100:,.2f}"


def _money(money: Money | None) -> str:
    if money is None:
        return "-"
    figures = f"{_euros(money.amount)}/{_euros(money.fee)}/{_euros(money.net)}"
    return f"{figures} {money.currency.upper()}"


def _payout_line(result: PayoutReconciliation) -> str:
    state = "ok" if result.ok else "MISMATCH"
    return (
        f"{result.payout}  payout {_euros(result.amount)}  Stripe settled "
        f"{_euros(result.stripe_net)} in {result.lines} lines  ledger {_euros(result.ledger_net)}"
        f"  {len(result.differences)} differences  {state}"
    )


def _difference_line(difference: Difference) -> str:
    rows = ",".join(str(pk) for pk in difference.ledger_rows) or "-"
    return (
        f"  {difference.problem.value}  {difference.balance_transaction or '(no balance txn)'}"
        f"  {difference.kind}  stripe {_money(difference.stripe)}"
        f"  ledger {_money(difference.ledger)} (rows {rows})"
    )


class Command(BaseCommand):
    help = "Reconcile each Stripe payout of a period with our ledger; exit 1 on any difference."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--until", required=True, help="last day, included, YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            since, until = (
                date.fromisoformat(options["since"]),
                date.fromisoformat(options["until"]),
            )
        except ValueError:
            raise CommandError("--since and --until must be dates as YYYY-MM-DD") from None
        if until < since:
            raise CommandError(f"the period ends ({until}) before it starts ({since})")
        if since.year < FIRST_YEAR or until.year > LAST_YEAR:
            raise CommandError(f"choose days from {FIRST_YEAR} to {LAST_YEAR}")
        overview = payouts_overview(since=since, until=until)
        for result in overview.payouts:
            self.stdout.write(_payout_line(result))
            if result.lines == 0:
                self.stdout.write("  Stripe has not reported what this payout settled")
            for difference in result.differences:
                self.stdout.write(_difference_line(difference))
        for difference in overview.not_paid_out:
            self.stdout.write(f"no payout  {_difference_line(difference).strip()}")
        self.stdout.write(
            f"{len(overview.payouts)} payouts, {overview.flagged} flagged, "
            f"{len(overview.not_paid_out)} ledger rows due but not paid out"
        )
        if not overview.ok:
            raise CommandError("the payouts do not reconcile with the ledger", returncode=1)
