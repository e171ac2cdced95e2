"""What donations/demo_gifts.py's plan adds up to, and the books a finished seed must hold:
shared by the resume tests (tests/donations/test_demo_gifts.py, test_demo_gifts_restart.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from donations.demo_gifts import (
    DISPUTED,
    LINK_GIFT,
    MONTHLY,
    ONE_OFF,
    PAYOUT_DAYS,
    REFUNDED,
    RENEWAL_DAYS,
    Donor,
)
from donations.models import GIVEN, Donation, Transaction
from donations.payouts import payouts_overview
from tests.harness.processes import celery_env

ROOT = Path(__file__).resolve().parents[2]


def _cents(rows: Sequence[tuple[int, Donor, int, Any]], times: int = 1) -> int:
    return sum(euros for _days, _donor, euros, _method in rows) * 100 * times


def plan_gifts() -> int:
    """Gifts in the plan: the one-off gifts, the Payment Link gift, and every monthly gift's
    first payment and renewals."""
    return len(ONE_OFF) + 1 + len(MONTHLY) * (1 + len(RENEWAL_DAYS))


def seed_process(stdout: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """`manage.py seed_demo_gifts` in its own process group, as the run command starts it."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "seed_demo_gifts"],
        cwd=ROOT,
        env=celery_env(),
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout == subprocess.PIPE else subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_gifts(process: subprocess.Popen[bytes], count: int) -> None:
    """Until the ledger holds `count` gifts, while the seed `process` still runs."""
    gifts = Transaction.objects.filter(kind="gift")
    deadline = time.monotonic() + 120
    while gifts.count() < count:
        assert process.poll() is None, "the first run ended before it could be killed"
        assert time.monotonic() < deadline, "no gifts booked in time"
        time.sleep(0.05)


def assert_books_hold_the_plan() -> None:
    """Every gift of the plan once, paid, at its amount; the refund, the lost dispute and the
    payouts, which reconcile with no difference."""
    gifts = Transaction.objects.filter(kind="gift")
    payments = 1 + len(RENEWAL_DAYS)
    assert gifts.count() == plan_gifts()
    cents = _cents(ONE_OFF) + LINK_GIFT[2] * 100 + _cents(MONTHLY, times=payments)
    assert sum(gifts.values_list("amount", flat=True)) == cents
    # No gift started twice: a donation a killed run left mid-checkout was finished.
    assert Donation.objects.count() == plan_gifts()
    assert Donation.objects.exclude(status__in=GIVEN).count() == 0
    by_name = {donor.name: euros for _d, donor, euros, _m in ONE_OFF}
    ledger = Transaction.objects.all()
    assert [r.amount for r in ledger.filter(kind="refund")] == [-by_name[REFUNDED] * 100]
    assert [r.amount for r in ledger.filter(kind="dispute")] == [-by_name[DISPUTED] * 100]
    assert ledger.filter(kind="payout").count() == len(PAYOUT_DAYS)
    today = timezone.localdate()
    overview = payouts_overview(since=today - timedelta(days=400), until=today + timedelta(days=3))
    assert [p.differences for p in overview.payouts] == [[]] * len(PAYOUT_DAYS)
