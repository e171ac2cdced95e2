"""The dashboard's campaign pictures: sign-ups and gifts per day over the last weeks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from backoffice.charts import Bar, columns
from campaign.models import Supporter
from donations.models import GIVEN, Donation
from donations.templatetags.donations import euros
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
    gifts = {
        row["day"]: row
        for row in Donation.objects.filter(created_at__gte=since, status__in=GIVEN)
        .annotate(day=TruncDate("created_at", tzinfo=AMSTERDAM))
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


def campaign_charts(*, with_euros: bool) -> dict[str, SafeString | list[DayFigures]]:
    figures = campaign_per_day()
    label = [f.day.strftime("%d-%m") for f in figures]
    charts: dict[str, SafeString | list[DayFigures]] = {
        "figures": figures,
        "signups_chart": columns(
            _("Confirmed sign-ups per day"),
            [Bar(lab, f.signups) for lab, f in zip(label, figures, strict=True)],
        ),
        "gifts_chart": columns(
            _("Gifts per day"), [Bar(lab, f.gifts) for lab, f in zip(label, figures, strict=True)]
        ),
    }
    if with_euros:
        charts["euros_chart"] = columns(
            _("Euros given per day"),
            [Bar(lab, f.euros_cents) for lab, f in zip(label, figures, strict=True)],
            show=euros,
        )
    return charts
