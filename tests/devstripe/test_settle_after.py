"""`--settle-after`: a SEPA debit paid or failed on the hosted page settles by itself (the demo),
with the events Stripe sends when a debit clears or bounces; without it a test settles."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from devstripe.server import FakeStripe
from donations import stripe_api
from tests.devstripe.test_devstripe import monthly_params, one_off_params


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def press(session_url: str, method: str, action: str) -> str:
    """The donor's click on the hosted page; returns where Checkout sends the browser."""
    form = urllib.parse.urlencode({"method": method, "action": action}).encode()
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(NoRedirect).open(session_url, data=form)
    assert redirect.value.code == 303
    return str(redirect.value.headers["Location"])


def wait_for_status(payment_intent_id: str, wanted: str, timeout: float = 10.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if stripe_api.payment_intent_retrieve(payment_intent_id)["status"] == wanted:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{payment_intent_id} never became {wanted}")


@pytest.fixture
def settling_stripe(fake_stripe: FakeStripe) -> FakeStripe:
    fake_stripe.state.settle_after = 0.6
    return fake_stripe


def test_sepa_one_off_paid_on_the_page_clears_after_the_delay(
    settling_stripe: FakeStripe,
) -> None:
    params = one_off_params(payment_method_types=["sepa_debit"])
    session = stripe_api.checkout_session_create(params=params, idempotency_key="s1")
    clicked = time.monotonic()
    assert press(session["url"], "sepa_debit", "pay").startswith("http://127.0.0.1:9/thanks")
    completed = stripe_api.checkout_session_retrieve(session["id"])
    assert completed["payment_status"] == "unpaid"
    pi_id = completed["payment_intent"]["id"]
    assert completed["payment_intent"]["status"] == "processing"

    wait_for_status(pi_id, "succeeded")
    assert time.monotonic() - clicked >= 0.6
    types = settling_stripe.event_types()
    cleared = types[types.index("checkout.session.completed") + 1 :]
    assert cleared == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.async_payment_succeeded",
    ]
    assert stripe_api.checkout_session_retrieve(session["id"])["payment_status"] == "paid"


def test_sepa_monthly_failed_on_the_page_bounces_after_the_delay(
    settling_stripe: FakeStripe,
) -> None:
    params = monthly_params(methods=["sepa_debit"])
    session = stripe_api.checkout_session_create(params=params, idempotency_key="s2")
    # A SEPA debit that will bounce is still accepted at first: back to the thank-you page.
    assert press(session["url"], "sepa_debit", "fail") == "http://127.0.0.1:9/thanks"
    completed = stripe_api.checkout_session_retrieve(session["id"])
    assert completed["status"] == "complete"
    invoice = stripe_api.invoice_retrieve(completed["invoice"])
    pi_id = invoice["payments"]["data"][0]["payment"]["payment_intent"]

    wait_for_status(pi_id, "requires_payment_method")
    types = settling_stripe.event_types()
    bounced = types[types.index("checkout.session.completed") + 1 :]
    assert bounced == [
        "charge.failed",
        "payment_intent.payment_failed",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "checkout.session.async_payment_failed",
    ]


def test_card_fail_on_the_page_fails_at_once_whatever_the_delay(
    settling_stripe: FakeStripe,
) -> None:
    session = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="s3")
    assert press(session["url"], "card", "fail") == "http://127.0.0.1:9/cancelled"
    assert settling_stripe.event_types()[-1] == "payment_intent.payment_failed"
    assert stripe_api.checkout_session_retrieve(session["id"])["status"] == "open"


def test_without_the_option_a_sepa_debit_waits_for_the_test(fake_stripe: FakeStripe) -> None:
    params = one_off_params(payment_method_types=["sepa_debit"])
    session = stripe_api.checkout_session_create(params=params, idempotency_key="s4")
    press(session["url"], "sepa_debit", "pay")
    pi_id = stripe_api.checkout_session_retrieve(session["id"])["payment_intent"]["id"]
    time.sleep(1.0)
    assert stripe_api.payment_intent_retrieve(pi_id)["status"] == "processing"
    fake_stripe.settle(pi_id)
    assert stripe_api.payment_intent_retrieve(pi_id)["status"] == "succeeded"


def test_the_dev_server_refuses_production() -> None:
    env = {**os.environ, "APP_ENV": "production"}
    command = [sys.executable, "-m", "devstripe", "--port", "0", "--webhook", "http://x/"]
    done = subprocess.run(
        [*command, "--secret", "whsec_x"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "refusing to start with APP_ENV=production" in done.stderr
