"""The landing page's progress line: euros raised from the ledger (a paid gift through real
signed webhooks, then a partial refund) and confirmed supporters, in Dutch and English."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from campaign.progress import CACHE_KEY
from devstripe.server import FakeStripe
from donations.inbox import inbox_drain
from tests.donations.gifts import paid_gift
from tests.factories import CampaignFactory, SupporterFactory

pytestmark = pytest.mark.django_db(transaction=True)


def progress_line(client: Client, prefix: str = "") -> str:
    page = client.get(f"{prefix}/").content.decode()
    found = re.search(r'data-testid="campaign-progress">(.*?)</p>', page)
    assert found, "no progress line"
    return re.sub(r"</?strong>", "", found[1])


def test_the_line_moves_with_a_paid_gift_and_its_refund(
    client: Client, fake_stripe: FakeStripe, live_server: Any
) -> None:
    cache.delete(CACHE_KEY)
    CampaignFactory()
    SupporterFactory(confirmed_at=timezone.now())
    SupporterFactory(confirmed_at=timezone.now())
    SupporterFactory(confirmed_at=None)  # never confirmed: not counted
    assert progress_line(client) == "€\xa00,00 opgehaald · 2 supporters"

    donation = paid_gift(fake_stripe, live_server, amount=123456, email="gever@voorbeeld.nl")
    # The cached line was dropped when the gift committed: no waiting for its minute to pass.
    assert progress_line(client) == "€\xa01.234,56 opgehaald · 2 supporters"
    assert progress_line(client, "/en") == "€1,234.56 raised · 2 supporters"

    charge = next(
        c["id"]
        for c in fake_stripe.objects("charge")
        if c["payment_intent"] == donation.stripe_payment_intent
    )
    fake_stripe.refund(charge, amount=23400)
    fake_stripe.wait_for_deliveries()
    inbox_drain()
    assert progress_line(client) == "€\xa01.000,56 opgehaald · 2 supporters"


def test_one_supporter_reads_in_the_singular(client: Client) -> None:
    cache.delete(CACHE_KEY)
    CampaignFactory()
    SupporterFactory(confirmed_at=timezone.now())
    assert progress_line(client, "/en") == "€0.00 raised · 1 supporter"
