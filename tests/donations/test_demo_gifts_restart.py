"""A `make run` killed half-way through its first seed, devstripe and all, is finished by the
next: devstripe comes back from its state file (--state-file), so the next seed finds the
killed run's gifts at Stripe and completes the plan with nothing booked twice.

Real processes throughout: devstripe, the seed command and a Celery worker, webhooks through
the live server. The expected totals come from the plan (donations/demo_gifts.py's table).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from config.embedded import free_port
from devstripe.fixtures import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET
from donations.demo_gifts import (
    forget_stale_stripe,
)
from donations.models import DemoSeedStep, Donation, Transaction
from tests.donations.demo_plan import (
    assert_books_hold_the_plan,
    plan_gifts,
    seed_process,
    wait_for_gifts,
)
from tests.factories import CampaignFactory, DonationFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "devstripe exited at start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("devstripe did not listen in time")


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture
def devstripe_process(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """`start(webhook_url)`: `python -m devstripe` with a state file, always on one port (the
    site and the worker keep their STRIPE_API_BASE), as the run command starts it."""
    port = free_port()
    api_base = f"http://127.0.0.1:{port}"
    settings.STRIPE_API_BASE = api_base
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    monkeypatch.setenv("STRIPE_API_BASE", api_base)
    monkeypatch.setenv("STRIPE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", TEST_WEBHOOK_SECRET)
    started: list[subprocess.Popen[bytes]] = []

    def start(webhook_url: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "devstripe", "--port", str(port)]
        command += ["--webhook", webhook_url, "--secret", TEST_WEBHOOK_SECRET]
        command += ["--state-file", str(tmp_path / "devstripe-state.json")]
        with (tmp_path / "devstripe.log").open("ab") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=log, start_new_session=True
            )
        started.append(process)
        _wait_for_port(port, process)
        return process

    yield start
    for process in started:
        _kill(process)


# Gifts in the ledger when everything is killed: among the first gifts, and around the
# monthly gifts' first renewals (the 10th to 12th gifts of the plan).
@pytest.mark.parametrize("kill_after", [5, 11])
def test_a_run_killed_with_its_devstripe_is_finished_by_the_next(
    kill_after: int,
    devstripe_process: Callable[[str], subprocess.Popen[bytes]],
    live_server: Any,
    celery_worker: Any,
    smtp_server: Any,
) -> None:
    webhook = f"{live_server.url}/stripe/webhook/"
    stripe = devstripe_process(webhook)
    celery_worker(EMAIL_URL=smtp_server.url)
    CampaignFactory()

    first = seed_process(subprocess.PIPE)
    wait_for_gifts(first, kill_after)
    # The whole run command dies at once: its seed and its devstripe.
    _kill(stripe)
    _kill(first)
    assert not DemoSeedStep.objects.filter(key="complete").exists()
    assert Transaction.objects.filter(kind="gift").count() < plan_gifts()

    devstripe_process(webhook)  # from its state file
    second = seed_process(subprocess.PIPE)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output.decode(errors="replace")

    assert_books_hold_the_plan()
    ledger = Transaction.objects.all()

    # Complete now: a third run adds nothing.
    rows_before = ledger.count()
    third = seed_process(subprocess.PIPE)
    third.communicate(timeout=120)
    assert (third.returncode, ledger.count()) == (0, rows_before)


def test_a_new_database_forgets_the_stripe_state_of_an_old_one(tmp_path: Path) -> None:
    state = tmp_path / "devstripe-state.json"
    state.write_text("{}")
    DemoSeedStep.objects.create(key="started")
    call_command("seed_demo_gifts", "--forget-stale-stripe", str(state), stdout=io.StringIO())
    assert state.exists()  # a seed begun here: its account is needed to finish it

    DemoSeedStep.objects.all().delete()
    DonationFactory()
    assert not forget_stale_stripe(state)
    assert state.exists()

    Donation.objects.all().delete()
    out = io.StringIO()
    call_command("seed_demo_gifts", "--forget-stale-stripe", str(state), stdout=out)
    assert not state.exists()
    assert "empty account" in out.getvalue()
    assert not forget_stale_stripe(state)  # no file: nothing to do
