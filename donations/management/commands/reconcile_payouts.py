"""`manage.py reconcile_payouts --since YYYY-MM-DD --until YYYY-MM-DD`: each payout booked in
the period against the balance transactions it settled, from our own rows (no Stripe call).
Export one payout's rows for the bank statement with `export_transactions --payout ID`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from donations.selectors import PayoutReconciliation, payouts_reconciliation


def _euros(cents: int) -> str:
    # Decimal, not float: a figure finance compares with the bank must be exact.
    return f"{Decimal(cents) / 100:,.2f}"


def _line(result: PayoutReconciliation) -> str:
    state = "MISMATCH" if result.flagged else "ok"
    return (
        f"{result.payout}  payout {_euros(result.amount)}  settled {_euros(result.settled)} "
        f"in {result.lines} lines  difference {_euros(result.difference)}  {state}"
    )


class Command(BaseCommand):
    help = "Reconcile each Stripe payout of a period with the balance transactions it settled."

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
        results = payouts_reconciliation(since=since, until=until)
        for result in results:
            self.stdout.write(_line(result))
        flagged = sum(result.flagged for result in results)
        self.stdout.write(f"{len(results)} payouts, {flagged} flagged")
