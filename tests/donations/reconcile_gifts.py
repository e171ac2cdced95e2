"""Gifts made through our checkout and paid at the fake Stripe, and the ledger Stripe's own
balance describes: shared by the reconcile tests."""

from __future__ import annotations

import uuid
from collections import Counter

from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.models import Donation, Frequency, Method, Transaction

LedgerRows = Counter[tuple[str, str, int, int]]


def paid_gift(fake: FakeStripe, *, monthly: bool = False, amount: int = 2500) -> Donation:
    """A gift paid by iDEAL (monthly: a SEPA subscription with its invoice) whose events stay
    at Stripe unless the fake delivers them."""
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=amount,
            frequency=Frequency.MONTHLY if monthly else Frequency.ONE_OFF,
            method=Method.IDEAL,
            email=f"gever-{uuid.uuid4().hex[:10]}@voorbeeld.nl",
            name="Gever",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    return donation


def expected_ledger(fake: FakeStripe) -> LedgerRows:
    """One gift row per succeeded charge, with the amount and fee of its balance transaction:
    read from the fake's own objects, not from our code."""
    rows: LedgerRows = Counter()
    for charge in fake.objects("charge"):
        if charge["status"] == "succeeded":
            balance = fake.get(charge["balance_transaction"])
            rows[("gift", charge["id"], balance["amount"], balance["fee"])] += 1
    return rows


def ledger() -> LedgerRows:
    return Counter(Transaction.objects.values_list("kind", "stripe_object", "amount", "fee"))
