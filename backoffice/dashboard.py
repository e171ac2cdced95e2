"""The dashboard's campaign pictures: sign-ups and gifts per day over the last weeks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from backoffice.charts import Bar, columns
from campaign.models import Supporter
from campaign.money import euros
from donations.models import Transaction, TransactionKind
from mailing.services import AMSTERDAM

DAYS = 30


@dataclass(frozen=True)
class DayFigures:
    day: date
    signups: int
    gifts: int
    euros_cents: int


def _since(today: date) -> datetime:
    return datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time(), AMSTERDAM)


def campaign_per_day(today: date | None = None) -> list[DayFigures]:
    """Confirmed sign-ups (double opt-in done) and gifts per Amsterdam day, zero-filled."""
    today = today or timezone.localdate(timezone=AMSTERDAM)
    since = _since(today)
    signups = dict(
        Supporter.objects.filter(confirmed_at__gte=since)
        .annotate(day=TruncDate("confirmed_at", tzinfo=AMSTERDAM))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    # Gifts as the ledger booked them, on the day the money moved (occurred_at, indexed),
    # not when our row was written: a gift booked late (a delayed webhook, reconcile, the
    # demo's seeded months) lands on its own day. Gross amounts; refunds and disputes are
    # rows of their own and do not un-give a gift on these charts (finance pages show them).
    gifts = {
        row["day"]: row
        for row in Transaction.objects.filter(kind=TransactionKind.GIFT, occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at", tzinfo=AMSTERDAM))
        .values("day")
        .annotate(n=Count("pk"), cents=Sum("amount"))
    }
    days = [today - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]
    return [
        DayFigures(
            day=day,
            signups=signups.get(day, 0),
            gifts=gifts[day]["n"] if day in gifts else 0,
            euros_cents=(gifts[day]["cents"] or 0) if day in gifts else 0,
        )
        for day in days
    ]


@dataclass(frozen=True)
class Chart:
    """One dashboard chart: its visible heading, the SVG, and whether there is anything to
    show yet (an empty chart is a flat line that reads as "broken": the page says so instead)."""

    key: str
    title: str
    svg: SafeString
    empty: bool


def _chart(
    key: str, title: str, bars: list[Bar], show: Callable[[int], str] | None = None
) -> Chart:
    svg = columns(title, bars, show=show) if show else columns(title, bars)
    return Chart(key=key, title=title, svg=svg, empty=not any(b.value for b in bars))


def campaign_charts(*, with_euros: bool, today: date | None = None) -> dict[str, Any]:
    figures = campaign_per_day(today)
    label = [f.day.strftime("%d-%m") for f in figures]
    charts = [
        _chart(
            "signups",
            _("Confirmed sign-ups per day"),
            [Bar(lab, f.signups) for lab, f in zip(label, figures, strict=True)],
        ),
        _chart(
            "gifts",
            _("Gifts per day"),
            [Bar(lab, f.gifts) for lab, f in zip(label, figures, strict=True)],
        ),
    ]
    if with_euros:
        charts.append(
            _chart(
                "euros",
                _("Euros given per day"),
                [Bar(lab, f.euros_cents) for lab, f in zip(label, figures, strict=True)],
                show=euros,
            )
        )
    rows = [(f, euros(f.euros_cents)) for f in figures]
    return {"charts": charts, "figure_rows": rows, "with_euros": with_euros}
