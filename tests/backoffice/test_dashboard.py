"""The dashboard's campaign charts: confirmed sign-ups and gifts per Amsterdam day."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from backoffice.charts import Bar, columns
from backoffice.dashboard import campaign_per_day
from backoffice.roles import FINANCE, MARKETING
from campaign.money import euros
from donations.ledger import Movement, ledger_record
from donations.models import DonationStatus, TransactionKind
from tests.factories import DonationFactory, SupporterFactory
from tests.staff import verified_client

pytestmark = pytest.mark.django_db


def _gift_at(moment: datetime, cents: int) -> None:
    """A paid gift booked in the ledger now (its Donation row written today) for money that
    moved at ``moment``: what a late webhook, reconcile or the demo's seeded months book."""
    gift = DonationFactory(amount=cents)
    ledger_record(
        movement=Movement(
            kind=TransactionKind.GIFT,
            stripe_object=f"py_{gift.stripe_payment_intent}",
            amount=cents,
            fee=0,
            currency="eur",
            occurred_at=moment,
            stripe_payment_intent=gift.stripe_payment_intent,
        ),
        donation=gift,
    )


def test_per_day_counts_confirmed_signups_and_given_gifts_zero_filled() -> None:
    now = timezone.now()
    for _ in range(3):
        SupporterFactory(confirmed_at=now)
    SupporterFactory(confirmed_at=None)  # never confirmed: not a sign-up yet
    SupporterFactory(confirmed_at=now - timedelta(days=2))
    _gift_at(now, 2500)
    DonationFactory(amount=1000, status=DonationStatus.FAILED)  # never in the ledger
    _gift_at(now - timedelta(days=2), 700)
    # Booked today (Donation.created_at is now) for money given 10 days ago: shows then.
    _gift_at(now - timedelta(days=10), 1300)
    # Older than the 30 days: booked today, shown nowhere.
    _gift_at(now - timedelta(days=31), 9900)

    days = campaign_per_day()
    assert len(days) == 30
    assert days[-1].day == timezone.localdate()
    assert (days[-1].signups, days[-1].gifts, days[-1].euros_cents) == (3, 1, 2500)
    assert (days[-3].signups, days[-3].gifts, days[-3].euros_cents) == (1, 1, 700)
    assert (days[-11].gifts, days[-11].euros_cents) == (1, 1300)
    assert sum(d.gifts for d in days) == 3
    assert sum(d.euros_cents for d in days) == 2500 + 700 + 1300
    assert sum(d.signups for d in days[:-3]) == 0


def test_dashboard_shows_the_charts_and_euros_only_to_finance(make_staff: Any) -> None:
    SupporterFactory(confirmed_at=timezone.now())
    _gift_at(timezone.now(), 4200)
    marketing = verified_client(make_staff(MARKETING)).get(f"/{settings.ADMIN_PATH}")
    page = marketing.content.decode()
    assert "<title>Bevestigde aanmeldingen per dag</title>" in page
    assert "<title>Giften per dag</title>" in page
    assert 'data-chart="euros"' not in page
    finance = verified_client(make_staff(FINANCE)).get(f"/{settings.ADMIN_PATH}")
    assert 'data-chart="euros"' in finance.content.decode()
    assert "€\xa042,00" in finance.content.decode()


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_a_gift_at_2330_utc_in_winter_belongs_to_the_next_amsterdam_day() -> None:
    _gift_at(datetime(2026, 1, 14, 23, 30, tzinfo=UTC), 450)
    days = {d.day: d for d in campaign_per_day(date(2026, 1, 20))}
    assert (days[date(2026, 1, 15)].gifts, days[date(2026, 1, 15)].euros_cents) == (1, 450)
    assert days[date(2026, 1, 14)].gifts == 0


def test_gifts_land_on_their_amsterdam_day_around_midnight() -> None:
    # 29 March 2026 is the day the clocks go forward: 00:30 there is still 23:30 UTC on the
    # 28th, and 23:30 on the 28th is 22:30 UTC on the 28th.
    _gift_at(datetime(2026, 3, 29, 0, 30, tzinfo=AMSTERDAM), 1000)
    _gift_at(datetime(2026, 3, 28, 23, 30, tzinfo=AMSTERDAM), 300)
    _gift_at(datetime(2026, 3, 27, 23, 59, tzinfo=AMSTERDAM), 7)
    # 00:30 on 1 March (winter time): 23:30 UTC on 28 February, outside the 30 days.
    _gift_at(datetime(2026, 2, 28, 0, 30, tzinfo=AMSTERDAM), 5)
    SupporterFactory(confirmed_at=datetime(2026, 3, 29, 0, 30, tzinfo=AMSTERDAM))
    days = {d.day: d for d in campaign_per_day(date(2026, 3, 29))}
    assert min(days) == date(2026, 2, 28)
    assert (days[date(2026, 3, 29)].gifts, days[date(2026, 3, 29)].euros_cents) == (1, 1000)
    assert (days[date(2026, 3, 28)].gifts, days[date(2026, 3, 28)].euros_cents) == (1, 300)
    assert (days[date(2026, 3, 27)].gifts, days[date(2026, 3, 27)].euros_cents) == (1, 7)
    assert days[date(2026, 2, 28)].euros_cents == 5
    assert days[date(2026, 3, 29)].signups == 1
    assert days[date(2026, 3, 28)].signups == 0


def _texts(svg: str, marker: str) -> list[tuple[float, str]]:
    return [
        (float(x), text)
        for x, text in re.findall(rf'<text x="([\d.]+)"[^>]*{marker}>([^<]*)</text>', svg)
    ]


def test_todays_column_carries_todays_label_and_no_value_is_clipped() -> None:
    bars = [Bar(f"{n:02d}-03", n * 123_456) for n in range(1, 31)]
    svg = str(columns("Euros", bars, show=euros))
    labels = _texts(svg, "data-label")
    assert labels[-1][1] == "30-03"  # the last column (today) is always labelled
    rects = [
        float(x) + float(w) / 2
        for x, w in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    ]
    for x, label in labels:
        assert abs(rects[int(label[:2]) - 1] - x) < 0.2  # each label under its own column
    view_height = int(re.search(r'viewBox="0 0 560 (\d+)"', svg)[1])  # type: ignore[index]
    for y, text in re.findall(
        r'<text x="[\d.]+" y="(-?[\d.]+)" transform="rotate\(-90[^>]*>([^<]*)<', svg
    ):
        # Upright text runs up from y: at 10px, a character is at most ~0.62 em wide.
        assert float(y) - len(text) * 10 * 0.62 >= 0
        assert float(y) <= view_height
    assert "€\xa037.036,80" in svg


def test_empty_charts_say_so_with_visible_titles(make_staff: Any) -> None:
    response = verified_client(make_staff(FINANCE)).get(f"/{settings.ADMIN_PATH}")
    page = html.unescape(response.content.decode())
    for title in ("Bevestigde aanmeldingen per dag", "Giften per dag", "Euro's gegeven per dag"):
        assert re.search(rf"<h3[^>]*>{re.escape(title)}</h3>", page), title
    assert page.count("data-empty") == 3
    assert "<svg" not in page.split('id="campaign-charts"')[1].split("</section>")[0]


def test_the_table_has_euros_for_finance_only(make_staff: Any) -> None:
    today = timezone.localdate(timezone=AMSTERDAM)
    _gift_at(datetime.combine(today, time(0, 30), AMSTERDAM), 123456)
    finance = verified_client(make_staff(FINANCE)).get(f"/{settings.ADMIN_PATH}").content.decode()
    row = finance.split(f'data-day="{today:%Y-%m-%d}"')[1].split("</tr>")[0]
    assert '<td class="pr-4 text-right" data-euros>€\xa01.234,56</td>' in row
    assert "data-empty" in finance  # no sign-ups yet: that chart says so
    marketing = verified_client(make_staff(MARKETING)).get(f"/{settings.ADMIN_PATH}")
    assert "data-euros" not in marketing.content.decode()
    assert "€" not in marketing.content.decode().split('id="campaign-charts"')[1]
