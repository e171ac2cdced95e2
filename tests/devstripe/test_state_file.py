"""`--state-file`: a devstripe started again from its saved account carries on where it
stopped: the same objects, events, pages, clock and idempotency keys, new objects after them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from config.embedded import free_port
from devstripe.control import control
from devstripe.fixtures import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET
from devstripe.server import FakeStripe
from donations import stripe_api
from tests.devstripe.test_devstripe import monthly_params, one_off_params
from tests.devstripe.test_settle_after import press, wait_for_status


@pytest.fixture
def restartable(settings: Any, tmp_path: Path) -> Iterator[Any]:
    """`start(**kwargs)`: a devstripe saving to one state file; our settings point at it."""
    started: list[FakeStripe] = []

    def start(**kwargs: Any) -> FakeStripe:
        path = tmp_path / "s.json"
        fake = FakeStripe(webhook_secret=TEST_WEBHOOK_SECRET, state_file=path, **kwargs)
        fake.start()
        settings.STRIPE_API_BASE = fake.api_base
        settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def _page(**params: Any) -> list[str]:
    page = stripe_api.client().raw_request("get", "/v1/events", **params).data
    return [event["id"] for event in page["data"]]


def test_the_account_comes_back_and_carries_on(restartable: Any, tmp_path: Path) -> None:
    first = restartable()
    first.set_webhook("http://127.0.0.1:9/nowhere")  # refused: every event stays pending
    one_off = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="k1")
    first.complete_checkout(one_off["id"], method="card")
    monthly = stripe_api.checkout_session_create(params=monthly_params(), idempotency_key="k2")
    first.complete_checkout(monthly["id"])
    first.advance_time(-86_400 * 30)
    subscription = first.get(monthly["id"])["subscription"]
    first.renew(subscription, settle=True)
    first.wait_for_deliveries()
    events, charges = first.events(), first.objects("charge")
    pages = [_page(limit=3), _page(limit=3, starting_after=events[-3]["id"])]
    offset = first.state.clock_offset
    first.stop()
    # What is on disk is plain JSON, whole (written via a temporary file, then renamed).
    assert json.loads((tmp_path / "s.json").read_text())["format"] == 1
    assert not list(tmp_path.glob(".*.tmp"))

    second = restartable()
    assert second.events() == events
    assert second.objects("charge") == charges
    assert [_page(limit=3), _page(limit=3, starting_after=events[-3]["id"])] == pages
    assert second.state.clock_offset == offset
    # Events the endpoint never took are delivered once it is there again.
    assert all(event["pending_webhooks"] == 1 for event in events)
    assert second.deliver_pending() == len(events)
    # The same key gives the same session back, not a second one.
    again = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="k1")
    assert again["id"] == one_off["id"]
    # New objects come after (and never reuse) the loaded ones; lists put them first.
    second.advance_time(86_400 * 30)  # back to today: a tie in `created` goes by order made
    later = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="k3")
    second.complete_checkout(later["id"], method="card")
    new_charges = second.objects("charge")
    assert new_charges[1:] == charges
    assert new_charges[0]["id"] not in {c["id"] for c in charges}
    assert _page(limit=1)[0] not in {e["id"] for e in events}


def test_a_debit_settling_by_itself_still_settles_after_a_restart(restartable: Any) -> None:
    first = restartable(settle_after=3600.0)
    params = one_off_params(payment_method_types=["sepa_debit"])
    session = stripe_api.checkout_session_create(params=params, idempotency_key="s1")
    press(session["url"], "sepa_debit", "pay")
    pi_id = stripe_api.checkout_session_retrieve(session["id"])["payment_intent"]["id"]
    first.stop()

    restartable(settle_after=0.3)
    started = time.monotonic()
    wait_for_status(pi_id, "succeeded")
    assert time.monotonic() - started < 5


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append(json.loads(body)["id"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _devstripe(port: int, webhook: str, state: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "devstripe", "--port", str(port), "--webhook", webhook]
    command += ["--secret", TEST_WEBHOOK_SECRET, "--state-file", str(state)]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise AssertionError("devstripe did not listen")


def test_events_not_delivered_before_a_kill_are_delivered_after_it(
    settings: Any, tmp_path: Path
) -> None:
    port, receiver_port = free_port(), free_port()
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{port}"
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    webhook = f"http://127.0.0.1:{receiver_port}/hook"  # nobody there yet
    stripe = _devstripe(port, webhook, tmp_path / "s.json")
    try:
        session = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="p")
        control(settings.STRIPE_API_BASE, "complete_checkout", session_id=session["id"])
        emitted = set(_page(limit=100))
        os.killpg(stripe.pid, signal.SIGKILL)
        stripe.wait()

        receiver = ThreadingHTTPServer(("127.0.0.1", receiver_port), _Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        stripe = _devstripe(port, webhook, tmp_path / "s.json")
        deadline = time.monotonic() + 10
        while set(_Receiver.got) != emitted:
            assert time.monotonic() < deadline, f"delivered {_Receiver.got} of {emitted}"
            time.sleep(0.05)
        receiver.shutdown()
        assert len(_Receiver.got) == len(emitted) >= 3
    finally:
        if stripe.poll() is None:
            os.killpg(stripe.pid, signal.SIGKILL)
        stripe.wait()
