"""seed_demo_gifts: the demo's months of gifts through the local Stripe, booked from its signed
webhooks by a real worker, and nothing more on a second run.

Expectations come from the demo's plan (donations/demo_gifts.py's table, written out here):
17 one-off gifts, of which 2 last December; Sophie Jacobs's EUR 20 iDEAL gift through the
Payment Link finance mapped to the campaign; 3 monthly gifts paid three times each (the first
payment and two SEPA renewals); Mark Jansen's EUR 50 card gift refunded; Noah de Boer's EUR 20
card gift disputed and lost; two payouts that settle what came before them.
"""

from __future__ import annotations

import io
import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from devstripe.server import FakeStripe
from donations.demo_gifts import (
    ONE_OFF,
)
from donations.models import (
    AgreementState,
    DemoSeedStep,
    Donation,
    PeriodicGiftAgreement,
    StatementRun,
    Transaction,
)
from donations.payouts import payouts_overview
from tests.donations.demo_plan import (
    assert_books_hold_the_plan,
    plan_gifts,
    seed_process,
    wait_for_gifts,
)
from tests.factories import CampaignFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_months_of_gifts_through_the_local_stripe_once(
    fake_stripe: FakeStripe,
    webhook_target: Any,
    live_server: Any,
    celery_worker: Any,
    smtp_server: Any,
) -> None:
    webhook_target(f"{live_server.url}/stripe/webhook/")
    celery_worker(EMAIL_URL=smtp_server.url)
    campaign = CampaignFactory()  # seed_demo's, which the social-media link is mapped to

    call_command("seed_demo_gifts")

    gifts = Donation.objects.all()
    assert gifts.count() == 17 + 1 + 3 * 3
    assert gifts.filter(frequency="monthly").count() == 9
    assert gifts.filter(frequency="monthly", method="sepa_debit").count() == 4  # iDEAL's renewals
    refunded = Donation.objects.get(donor_name="Mark Jansen")
    disputed = Donation.objects.get(donor_name="Noah de Boer")
    assert (refunded.status, disputed.status) == ("refunded", "disputed")
    linked = Donation.objects.get(donor_name="Sophie Jacobs")
    assert (linked.amount, linked.channel, linked.status) == (2000, "payment_link", "paid")
    assert linked.campaign == campaign
    ledger = Transaction.objects.all()
    assert ledger.filter(kind="gift").count() == 27
    assert [r.amount for r in ledger.filter(kind="refund")] == [-5000]
    assert [r.amount for r in ledger.filter(kind="dispute")] == [-2000]
    assert ledger.filter(kind="payout").count() == 2
    # Spread as Stripe dated them: last December, and over the last three months.
    today = timezone.localdate()
    days = sorted((today - row.occurred_at.date()).days for row in ledger.filter(kind="gift"))
    assert 360 <= days[-1] <= 364
    assert days[-3] <= 90
    assert days[0] <= 5
    # Both payouts reconcile against the ledger to the cent.
    overview = payouts_overview(since=today - timedelta(days=400), until=today + timedelta(days=3))
    assert len(overview.payouts) == 2
    assert [p.differences for p in overview.payouts] == [[], []]
    # Finance's paperwork: last year's statements, a signed agreement.
    assert StatementRun.objects.filter(year=today.year - 1).exists()
    agreement = PeriodicGiftAgreement.objects.get()
    assert agreement.state == AgreementState.SIGNED
    assert agreement.donor_name == "Anouk Willems"

    events_before = len(fake_stripe.events())
    call_command("seed_demo_gifts")

    assert Donation.objects.count() == 27
    assert Transaction.objects.count() == ledger.count()
    assert len(fake_stripe.events()) == events_before


# Gifts in the ledger when the first run is killed: among the first gifts, and around the
# monthly gifts' first renewals (the 10th to 12th gifts of the plan).
@pytest.mark.parametrize("kill_after", [5, 11])
def test_a_seed_killed_half_way_is_finished_by_the_next_run(
    kill_after: int,
    fake_stripe: FakeStripe,
    webhook_target: Any,
    live_server: Any,
    celery_worker: Any,
    smtp_server: Any,
) -> None:
    webhook_target(f"{live_server.url}/stripe/webhook/")
    celery_worker(EMAIL_URL=smtp_server.url)
    CampaignFactory()

    # A first run (its own process, as the run command's), SIGKILLed once the ledger holds
    # `kill_after` gifts: mid-way through the plan, whatever step it was in.
    first = seed_process()
    wait_for_gifts(first, kill_after)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not DemoSeedStep.objects.filter(key="complete").exists()
    assert Transaction.objects.filter(kind="gift").count() < plan_gifts()

    call_command("seed_demo_gifts", stdout=io.StringIO())

    assert_books_hold_the_plan()
    ledger = Transaction.objects.all()

    # Complete now: a third run adds nothing, at Stripe or here.
    events_before, rows_before = len(fake_stripe.events()), ledger.count()
    call_command("seed_demo_gifts", stdout=io.StringIO())
    assert (len(fake_stripe.events()), ledger.count()) == (events_before, rows_before)


def test_a_seed_begun_on_a_local_stripe_that_is_gone_says_so(fake_stripe: FakeStripe) -> None:
    # A run command killed with its devstripe: the new one never saw the first run's gifts.
    CampaignFactory()
    DemoSeedStep.objects.create(key="started")
    donor = ONE_OFF[0][1]
    DemoSeedStep.objects.create(key=f"one_off:{donor.email}", result="ch_from_the_old_stripe")
    with pytest.raises(CommandError, match="the local Stripe that the interrupted seed used"):
        call_command("seed_demo_gifts", stdout=io.StringIO())
    assert fake_stripe.events() == []
    assert not DemoSeedStep.objects.filter(key="complete").exists()
