"""A paid one-off gift the way it really happens: our checkout, the fake Stripe's payment,
signed webhooks to the live server, and the inbox applied in this process."""

from __future__ import annotations

from typing import Any

from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain
from donations.models import Donation, Frequency, Method


def paid_gift(
    fake: FakeStripe, live_server: Any, *, amount: int = 2500, **request: Any
) -> Donation:
    fake.set_webhook(live_server.url + "/stripe/webhook/", secret=fake.webhook_secret)
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=amount, frequency=Frequency.ONE_OFF, method=Method.IDEAL, **request
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    fake.wait_for_deliveries()
    inbox_drain()
    donation.refresh_from_db()
    return donation
