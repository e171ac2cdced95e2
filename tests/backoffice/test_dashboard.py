"""The dashboard's campaign charts: confirmed sign-ups and gifts per Amsterdam day."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from backoffice.dashboard import campaign_per_day
from backoffice.roles import FINANCE, MARKETING
from donations.models import Donation, DonationStatus
from tests.factories import DonationFactory, SupporterFactory
from tests.staff import verified_client

pytestmark = pytest.mark.django_db


def test_per_day_counts_confirmed_signups_and_given_gifts_zero_filled() -> None:
    now = timezone.now()
    for _ in range(3):
        SupporterFactory(confirmed_at=now)
    SupporterFactory(confirmed_at=None)  # never confirmed: not a sign-up yet
    SupporterFactory(confirmed_at=now - timedelta(days=2))
    DonationFactory(amount=2500)
    DonationFactory(amount=1000, status=DonationStatus.FAILED)
    old = DonationFactory(amount=700)
    Donation.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))

    days = campaign_per_day()
    assert len(days) == 30
    assert days[-1].day == timezone.localdate()
    assert (days[-1].signups, days[-1].gifts, days[-1].euros_cents) == (3, 1, 2500)
    assert (days[-3].signups, days[-3].gifts, days[-3].euros_cents) == (1, 1, 700)
    assert sum(d.signups for d in days[:-3]) == 0


def test_dashboard_shows_the_charts_and_euros_only_to_finance(make_staff: Any) -> None:
    SupporterFactory(confirmed_at=timezone.now())
    DonationFactory(amount=4200)
    marketing = verified_client(make_staff(MARKETING)).get(f"/{settings.ADMIN_PATH}")
    page = marketing.content.decode()
    assert "<title>Bevestigde aanmeldingen per dag</title>" in page
    assert "<title>Giften per dag</title>" in page
    assert 'data-chart="euros"' not in page
    finance = verified_client(make_staff(FINANCE)).get(f"/{settings.ADMIN_PATH}")
    assert 'data-chart="euros"' in finance.content.decode()
    assert "€\xa042,00" in finance.content.decode()
