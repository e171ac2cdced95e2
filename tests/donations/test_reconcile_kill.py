"""`manage.py reconcile_stripe` killed with SIGKILL between pages, then run again: it goes on
after the last page it committed, stores every event once and books nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devstripe.server import FakeStripe
from donations.management.commands.reconcile_stripe import PROGRESS_SECONDS
from donations.models import EventStatus, StripeEvent, SyncCursor
from donations.reconcile import CURSOR
from tests.donations.reconcile_gifts import expected_ledger, ledger, paid_gift
from tests.harness.processes import ROOT, celery_env
from tests.harness.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PAGE = 100  # Stripe's largest page, which reconcile asks for
ONE_OFF_GIFTS = 80  # 4 events each
MONTHLY_GIFTS = 3  # a dozen each, with subscription and invoice events


def _start(log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "reconcile_stripe"],
        cwd=ROOT,
        env=celery_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so SIGKILL reaches everything
    )


def test_a_killed_reconcile_continues_where_it_stopped(
    fake_stripe: FakeStripe, tmp_path: Path, settings: Any
) -> None:
    # Given many pages of events the webhook never delivered, and a slow event list.
    fake_stripe.auto_deliver = False
    for index in range(ONE_OFF_GIFTS + MONTHLY_GIFTS):
        paid_gift(fake_stripe, monthly=index < MONTHLY_GIFTS, amount=1000 + index)
    events = fake_stripe.events()
    newest_first = [e["id"] for e in reversed(events)]
    assert len(events) > 3 * PAGE
    fake_stripe.events_list_delay = 0.3

    # When the command is killed once at least two pages are committed.
    first = _start(tmp_path / "first.log")
    try:
        wait_until(lambda: StripeEvent.objects.count() >= 2 * PAGE, timeout=120)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    time.sleep(2 * fake_stripe.events_list_delay)  # the list it was waiting for is logged
    killed_at = time.time()
    stored = StripeEvent.objects.count()
    cursor = SyncCursor.objects.get(name=CURSOR)

    # Then whole pages were stored, newest first, with the run's progress, and nothing marked
    # done.
    assert stored % PAGE == 0
    assert 2 * PAGE <= stored < len(events)
    assert set(StripeEvent.objects.values_list("stripe_id", flat=True)) == set(
        newest_first[:stored]
    )
    assert cursor.run_after == newest_first[stored - 1]
    assert cursor.stripe_created == 0

    # When it runs again (on a Stripe slow enough for progress lines).
    fake_stripe.events_list_delay = PROGRESS_SECONDS + 0.1
    second = _start(tmp_path / "second.log")
    assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()
    output = (tmp_path / "second.log").read_text()

    # Then it went on after the last committed event instead of listing from the top.
    lists = [r for r in fake_stripe.requests_to("GET", "/v1/events") if r.at > killed_at]
    assert lists[0].params["starting_after"] == cursor.run_after
    assert len(lists) == -(-(len(events) - stored) // PAGE)
    assert f"continued an interrupted run after {cursor.run_after}" in output
    assert f"page 1: {PAGE} events listed, {PAGE} stored now, back to " in output
    rest = len(events) - stored
    assert f"listed {rest}, already stored 0, stored now {rest}" in output
    # Every event is stored exactly once, applied, and the ledger books each payment once.
    assert sorted(StripeEvent.objects.values_list("stripe_id", flat=True)) == sorted(
        e["id"] for e in events
    )
    assert not StripeEvent.objects.filter(
        status__in=[EventStatus.RECEIVED, EventStatus.FAILED]
    ).exists()
    assert ledger() == expected_ledger(fake_stripe)
    cursor.refresh_from_db()
    assert (cursor.stripe_created, cursor.run_since) == (max(e["created"] for e in events), None)

    # And a third run finds nothing to store and books nothing.
    fake_stripe.events_list_delay = 0
    third = _start(tmp_path / "third.log")
    assert third.wait(timeout=120) == 0
    assert f"already stored {len(events)}, stored now 0" in (tmp_path / "third.log").read_text()
    assert StripeEvent.objects.count() == len(events)
    assert ledger() == expected_ledger(fake_stripe)
