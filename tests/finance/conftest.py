"""A known ledger, built as production builds it: gifts paid at the fake Stripe, its webhooks
posted to our live server, the inbox drained; then refunds, disputes and one payout."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain
from donations.models import Donation, Frequency, Method
from tests.factories import SupporterFactory

ERASED_EMAIL = "wis-mij@voorbeeld.nl"
ERASED_NAME = "Wisse Mijnaam"
# (key, amount in cents, frequency, method); the key names the gift in the tests.
GIFTS = [
    ("ideal", 2500, Frequency.ONE_OFF, Method.IDEAL),
    ("card", 5000, Frequency.ONE_OFF, Method.CARD),
    ("bancontact", 1000, Frequency.ONE_OFF, Method.BANCONTACT),
    ("monthly", 1500, Frequency.MONTHLY, Method.IDEAL),
    ("erased", 7500, Frequency.ONE_OFF, Method.IDEAL),
    ("refunded", 2000, Frequency.ONE_OFF, Method.CARD),
    ("partial", 4000, Frequency.ONE_OFF, Method.IDEAL),
    ("lost", 3000, Frequency.ONE_OFF, Method.CARD),
    ("won", 3500, Frequency.ONE_OFF, Method.CARD),
]
Row = tuple[
    str, str, str, str, int, int, int, str
]  # kind, pi, charge, balance, gross, fee, net, payout


@dataclass
class KnownLedger:
    fake: FakeStripe
    donations: dict[str, Donation]
    payout: dict[str, Any]
    expected: list[Row] = field(default_factory=list)

    @property
    def today(self) -> date:
        return timezone.localdate()


def _gift(fake: FakeStripe, key: str, amount: int, frequency: str, method: str) -> Donation:
    email = ERASED_EMAIL if key == "erased" else f"gever-{uuid.uuid4().hex[:8]}@voorbeeld.nl"
    name = ERASED_NAME if key == "erased" else f"Gever {key.title()}"
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=amount,
            frequency=Frequency(frequency),
            method=Method(method),
            email=email,
            name=name,
            utm={"utm_campaign": "voorjaar"} if key == "card" else {},
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    fake.complete_checkout(donation.stripe_checkout_session, "paid", method)
    return donation


def _expected(fake: FakeStripe, payout_id: str) -> list[Row]:
    """The ledger as Stripe's own objects describe it, independent of our code."""
    rows: list[Row] = []
    for charge in fake.objects("charge"):
        if charge["status"] == "succeeded":
            bt = fake.get(charge["balance_transaction"])
            pi = charge["payment_intent"]
            rows.append(
                ("gift", pi, charge["id"], bt["id"], bt["amount"], bt["fee"], bt["net"], payout_id)
            )
    for refund in fake.objects("refund"):
        bt = fake.get(refund["balance_transaction"])
        charge = fake.get(refund["charge"])
        rows.append(
            (
                "refund",
                charge["payment_intent"],
                charge["id"],
                bt["id"],
                -refund["amount"],
                bt["fee"],
                -refund["amount"] - bt["fee"],
                payout_id,
            )
        )
    for dispute in fake.objects("dispute"):
        for bt in fake.get(dispute["id"])["balance_transactions"]:
            kind = "dispute_won" if bt["amount"] > 0 else "dispute"
            rows.append(
                (
                    kind,
                    dispute["payment_intent"],
                    dispute["charge"],
                    bt["id"],
                    bt["amount"],
                    bt["fee"],
                    bt["net"],
                    payout_id,
                )
            )
    payout = fake.get(payout_id)
    rows.append(
        (
            "payout",
            "",
            "",
            payout["balance_transaction"],
            -payout["amount"],
            0,
            -payout["amount"],
            payout_id,
        )
    )
    return rows


def funds_available(fake: FakeStripe) -> None:
    """Move the fake Stripe's clock on to when every balance transaction so far is available:
    a payout settles only those (card, iDEAL and Bancontact two days on, SEPA seven)."""
    now = fake.advance_time(0)
    last = max(txn["available_on"] for txn in fake.objects("balance_transaction"))
    if last > now:
        fake.advance_time(last - now)


@pytest.fixture
def known_ledger(fake_stripe: FakeStripe, live_server: Any) -> KnownLedger:
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    SupporterFactory(email=ERASED_EMAIL)
    donations = {key: _gift(fake_stripe, key, *rest) for key, *rest in GIFTS}
    fake_stripe.wait_for_deliveries()
    inbox_drain()
    for donation in donations.values():
        donation.refresh_from_db()
    charge = {
        key: fake_stripe.get(d.stripe_payment_intent)["latest_charge"]
        for key, d in donations.items()
        if d.stripe_payment_intent
    }
    charge = {
        key: value if isinstance(value, str) else value["id"] for key, value in charge.items()
    }
    fake_stripe.refund(charge["refunded"])
    fake_stripe.refund(charge["partial"], amount=1234)
    fake_stripe.close_dispute(fake_stripe.dispute(charge["lost"])["id"], won=False)
    fake_stripe.close_dispute(fake_stripe.dispute(charge["won"])["id"], won=True)
    funds_available(fake_stripe)
    payout = fake_stripe.payout()
    fake_stripe.wait_for_deliveries()
    inbox_drain()
    for donation in donations.values():
        donation.refresh_from_db()
    return KnownLedger(
        fake=fake_stripe,
        donations=donations,
        payout=payout,
        expected=_expected(fake_stripe, payout["id"]),
    )


def export(path: Path, *args: str) -> Path:
    call_command("export_transactions", *args, "--output", str(path))
    return path


def csv_rows(path: Path, *, dialect: str = "default") -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig" if dialect == "nl" else "utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter=";" if dialect == "nl" else ","))


def cents(value: Any) -> int:
    """A CSV or XLSX amount as exact cents. An XLSX cell holds the decimal text we wrote
    ("0.29"); openpyxl reads it as a float whose repr is that same shortest text."""
    text = repr(value) if isinstance(value, float) else str(value).replace(",", ".")
    amount = Decimal(text) * 100
    assert amount == amount.to_integral_value(), value
    return int(amount)


def as_row(record: dict[str, Any]) -> Row:
    return (
        record["kind"],
        record["stripe_payment_intent"] or "",
        record["stripe_charge"] or "",
        record["stripe_balance_transaction"] or "",
        cents(record["gross"]),
        cents(record["fee"]),
        cents(record["net"]),
        record["stripe_payout"] or "",
    )
