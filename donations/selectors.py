"""Finance reads: the monthly summary (payout reconciliation: donations.payouts).

It reads the same joins as the export (donations.exports.LEDGER_JOINS), so a method or
campaign means the same thing in the summary as in the export it must add up to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.db.models import Sum

from donations.exports import CAMPAIGN_SQL, CHANNEL_SQL, LEDGER_JOINS, METHOD_SQL, period_bounds
from donations.models import Transaction


@dataclass(frozen=True)
class SummaryLine:
    """One (method, campaign) of a month, in cents. Fees are costs (positive); net is what
    the charity's balance gained: gifts + refunds + disputes - fees."""

    method: str
    campaign: str
    currency: str
    gifts: int
    refunds: int
    disputes: int
    fees: int
    net: int
    payouts: int
    channel: str = ""  # where the gifts came in (donations.models.Channel); the last column


@dataclass(frozen=True)
class MonthlySummary:
    year: int
    month: int
    lines: list[SummaryLine]

    def total(self, field: str) -> int:
        return sum(int(getattr(line, field)) for line in self.lines)


# Standalone fee rows carry the fee as a negative amount; the fee column carries the fee on a
# gift, refund or dispute. Both are costs, so fees = fee - (amount of fee rows).
MONTHLY_SQL = f"""
SELECT {METHOD_SQL} AS method, {CAMPAIGN_SQL} AS campaign, t.currency,
    COALESCE(sum(t.amount) FILTER (WHERE t.kind = 'gift'), 0),
    COALESCE(sum(t.amount) FILTER (WHERE t.kind = 'refund'), 0),
    COALESCE(sum(t.amount) FILTER (WHERE t.kind IN ('dispute', 'dispute_won')), 0),
    COALESCE(sum(t.fee) FILTER (WHERE t.kind <> 'payout'), 0)
        - COALESCE(sum(t.amount) FILTER (WHERE t.kind = 'fee'), 0),
    COALESCE(sum(t.net) FILTER (WHERE t.kind <> 'payout'), 0),
    COALESCE(sum(t.amount) FILTER (WHERE t.kind = 'payout'), 0),
    {CHANNEL_SQL} AS channel
{LEDGER_JOINS}
WHERE t.occurred_at >= %(start)s AND t.occurred_at < %(end)s
GROUP BY 1, 2, 3, 10
ORDER BY 1, 10, 2, 3
"""


def monthly_summary(year: int, month: int) -> MonthlySummary:
    """Gifts, refunds, disputes, fees and net per method, channel and campaign for one month
    (Europe/Amsterdam), matching the export of that month to the cent."""
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    start, end = period_bounds(first, following - timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute(MONTHLY_SQL, {"start": start, "end": end})
        lines = [_summary_line(*row) for row in cursor.fetchall()]
    return MonthlySummary(year=year, month=month, lines=lines)


def _summary_line(method: str, campaign: str, currency: str, *sums_and_channel: Any) -> SummaryLine:
    *sums, channel = sums_and_channel
    gifts, refunds, disputes, fees, net, payouts = (int(value) for value in sums)
    return SummaryLine(
        method, campaign, currency, gifts, refunds, disputes, fees, net, payouts, channel
    )


# What the public progress line counts: the gifts' money less what refunds and disputes took back
# (ledger signs: refunds and disputes negative, a won dispute positive); fees are not subtracted,
# people gave the gross amount.
_RAISED_KINDS = ("gift", "refund", "dispute", "dispute_won")


def euros_raised() -> int:
    """Euro cents raised by the campaign, from the ledger (registered with campaign.progress)."""
    total = Transaction.objects.filter(kind__in=_RAISED_KINDS, currency="eur").aggregate(
        cents=Sum("amount")
    )["cents"]
    return int(total or 0)
