"""Issue 12's "done when": a month of Stripe traffic through every door, a third of its events
never delivered and the rest delivered twice, shuffled, then `manage.py reconcile_stripe`.
The export, the thank-yous and both payouts must then equal the plan of the month
(tests/donations/month_plan.py), computed from the plan alone, to the cent."""

from __future__ import annotations

import csv
import io
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.handlers import event_wanted
from donations.inbox import inbox_drain
from donations.models import (
    Donation,
    DonorNotice,
    EventStatus,
    Frequency,
    Method,
    NoticeKind,
    RecurringDonation,
    StripeEvent,
    Transaction,
    TransactionKind,
)
from donations.notices import notices_send
from donations.payouts import Money, Problem, payout_reconciliation
from tests.donations.month_plan import (
    Dispute,
    Expected,
    Gift,
    Payment,
    Payout,
    Plan,
    Refund,
    Renewal,
    Step,
    month_plan,
)
from tests.factories import CampaignFactory
from tests.harness.smtp import SmtpServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SEED = int(os.environ.get("STRIPE_MONTH_SEED", "20261205"))  # another to explore
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
CAMPAIGN = "save-the-survivors"


def _last_month() -> tuple[date, date]:
    first_of_this = timezone.localdate().replace(day=1)
    last = first_of_this - timedelta(days=1)
    return last.replace(day=1), last


@dataclass
class Month:
    """What the fake Stripe made for each step of the plan (ids only: never expectations)."""

    fake: FakeStripe
    start: int  # Unix time of the month's first moment, Europe/Amsterdam
    charges: dict[str, str] = field(default_factory=dict)  # plan key -> charge id
    subscriptions: dict[str, str] = field(default_factory=dict)
    disputes: dict[str, str] = field(default_factory=dict)
    payouts: dict[str, str] = field(default_factory=dict)

    def clock(self, at: int) -> None:
        self.fake.advance_time(self.start + at - self.fake.advance_time(0))

    def new_charge(self, key: str, act: Callable[[], Any]) -> None:
        before = {charge["id"] for charge in self.fake.objects("charge")}
        act()
        [charge] = {c["id"] for c in self.fake.objects("charge")} - before
        self.charges[key] = charge


def _pay(month: Month, payment: Payment) -> None:
    fake, outcome = month.fake, "failed" if payment.fails else "paid"
    donor = {"amount": payment.amount, "email": payment.email, "name": payment.name}
    if payment.door == "donate_page":
        donation = checkout.donation_create(
            request=GiftRequest(
                amount=payment.amount,
                frequency=Frequency.MONTHLY if payment.monthly else Frequency.ONE_OFF,
                method=Method(payment.method),
                name=payment.name,
                email=payment.email,
            )
        )
        checkout.checkout_start(donation=donation)
        donation.refresh_from_db()
        session = fake.complete_checkout(donation.stripe_checkout_session, outcome, payment.method)
        month.subscriptions[payment.key] = session.get("subscription") or ""
    elif payment.door == "payment_link":
        session = fake.payment_link_pay(**donor, method=payment.method, monthly=payment.monthly)
        month.subscriptions[payment.key] = session.get("subscription") or ""
    elif payment.door == "dashboard":
        intent = fake.dashboard_payment(**donor, method=payment.method, settle=not payment.fails)
        if payment.fails:  # the donor's bank refuses the debit
            fake.settle(intent["id"], succeed=False)
    elif payment.door == "legacy_charge":
        fake.legacy_charge(**donor)
    elif payment.door == "dashboard_subscription":
        subscription = fake.dashboard_subscription(**donor, method=payment.method)
        month.subscriptions[payment.key] = subscription["id"]
    else:
        fake.invoice_pay(**donor, method=payment.method, locale=payment.locale)


def _timeline(plan: Plan) -> list[tuple[int, str, Step]]:
    """Each step of the plan at its moment; a SEPA debit's settlement and a dispute's closing
    are moments of their own."""
    moments: list[tuple[int, str, Step]] = []
    for step in plan.steps:
        moments.append((step.at, "start", step))
        if isinstance(step, Renewal) and step.settle_at > step.at:
            moments.append((step.settle_at, "settle", step))
        if isinstance(step, Dispute):
            moments.append((step.close_at, "close", step))
    return sorted(moments, key=lambda moment: moment[0])


def _act(month: Month, action: str, step: Step) -> None:
    """Make one moment of the plan happen at the fake Stripe."""
    fake = month.fake
    match step:
        case Payment():
            month.new_charge(step.key, lambda: _pay(month, step))
        case Renewal() if action == "start":
            subscription = month.subscriptions[step.of]
            delayed = step.settle_at > step.at
            month.new_charge(
                step.key,
                lambda: fake.renew(subscription, succeed=not step.fails, settle=not delayed),
            )
        case Renewal():
            intent = fake.get(month.charges[step.key])["payment_intent"]
            fake.settle(intent, succeed=not step.fails)
        case Refund():
            fake.refund(month.charges[step.of], amount=step.amount)
        case Dispute() if action == "start":
            month.disputes[step.key] = fake.dispute(month.charges[step.of])["id"]
        case Dispute():
            fake.close_dispute(month.disputes[step.key], won=step.won)
        case Payout():
            month.payouts[step.key] = fake.payout()["id"]


def _run_month(fake: FakeStripe, plan: Plan, first_day: date) -> Month:
    start = datetime.combine(first_day, time.min, tzinfo=AMSTERDAM)
    month = Month(fake=fake, start=int(start.timestamp()))
    for at, action, step in _timeline(plan):
        month.clock(at)
        _act(month, action, step)
    return month


# --- reading the books ---------------------------------------------------------------------------


def cents(text: str) -> int:
    amount = Decimal(text) * 100
    assert amount == amount.to_integral_value(), text
    return int(amount)


def _export(path: Path, *args: str) -> list[dict[str, str]]:
    call_command("export_transactions", *args, "--output", str(path))
    return list(csv.DictReader(io.StringIO(path.read_text())))


def _reconcile_payouts(*args: str) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("reconcile_payouts", *args, stdout=out)
    except CommandError as error:
        return out.getvalue(), error.returncode
    return out.getvalue(), 0


def _gift_row(gift: Gift) -> tuple[Any, ...]:
    return (
        gift.amount,
        gift.fee,
        gift.amount - gift.fee,
        gift.method,
        gift.frequency,
        gift.channel,
        gift.name,
        gift.email,
        CAMPAIGN if gift.from_donate_page else "",
    )


def _exported_gift(row: dict[str, str]) -> tuple[Any, ...]:
    return (
        cents(row["gross"]),
        cents(row["fee"]),
        cents(row["net"]),
        row["method"],
        row["frequency"],
        row["channel"],
        row["donor_name"],
        row["donor_email"],
        row["campaign"],
    )


def _per_kind(rows: list[dict[str, str]]) -> dict[str, tuple[int, int, int, int]]:
    kinds: dict[str, Counter[str]] = {}
    for row in rows:
        tally = kinds.setdefault(row["kind"], Counter())
        tally.update(
            rows=1, gross=cents(row["gross"]), fee=cents(row["fee"]), net=cents(row["net"])
        )
    return {kind: (t["rows"], t["gross"], t["fee"], t["net"]) for kind, t in kinds.items()}


def _reversal_rows(plan: Plan, expected: Expected) -> Counter[tuple[str, int, int, str]]:
    """Refund and dispute rows as the plan says: (kind, gross, fee, donor email)."""
    gifts = {gift.key: gift for gift in expected.gifts}
    rows: Counter[tuple[str, int, int, str]] = Counter()
    for refund in plan.of_kind(Refund):
        gift = gifts[refund.of]
        rows[("refund", -(refund.amount or gift.amount), 0, gift.email)] += 1
    for dispute in plan.of_kind(Dispute):
        gift = gifts[dispute.of]
        rows[("dispute", -gift.amount, 1500, gift.email)] += 1
        if dispute.won:
            rows[("dispute_won", gift.amount, 0, gift.email)] += 1
    return rows


def _all_applied() -> bool:
    return not StripeEvent.objects.exclude(
        status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]
    ).exists()


def _ledger_row_lost(row: Transaction) -> None:
    """A ledger row gone (a restore from an older backup, a bad hand edit): the append-only
    trigger is lifted for this one DELETE only."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE donations_transaction DISABLE TRIGGER donations_ledger_append_only"
        )
        try:
            cursor.execute("DELETE FROM donations_transaction WHERE id = %s", [row.pk])
        finally:
            cursor.execute(
                "ALTER TABLE donations_transaction ENABLE TRIGGER donations_ledger_append_only"
            )


def test_a_month_with_a_third_of_its_events_lost_reconciles_to_the_plan(
    fake_stripe: FakeStripe,
    live_server: Any,
    smtp_server: SmtpServer,
    settings: Any,
    tmp_path: Path,
) -> None:
    # Given the plan of last month, and what the books must say about it.
    plan = month_plan(SEED)
    expected = plan.expected()
    first_day, last_day = _last_month()
    period = ["--since", first_day.isoformat(), "--until", last_day.isoformat()]
    CampaignFactory(slug=CAMPAIGN)
    settings.SITE_URL = live_server.url
    fake_stripe.auto_deliver = False
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)

    # When the month happens at Stripe, a third of its events never reach us and the rest
    # come twice, shuffled; then the inbox is applied and reconcile_stripe runs.
    month = _run_month(fake_stripe, plan, first_day)
    events = fake_stripe.events()
    rng = random.Random(SEED)
    dropped = {event["id"] for event in rng.sample(events, len(events) // 3)}
    arriving = [event for event in events if event["id"] not in dropped] * 2
    rng.shuffle(arriving)
    assert Counter(fake_stripe.deliver(arriving)) == Counter({200: len(arriving)})
    while inbox_drain():
        pass
    out = io.StringIO()
    call_command("reconcile_stripe", stdout=out)

    # Then every event is in the inbox once, the missed ones brought by reconcile, all applied.
    assert f"stored now {len(dropped)}" in out.getvalue(), out.getvalue()
    assert StripeEvent.objects.count() == len(events)
    assert set(StripeEvent.objects.filter(via="reconcile").values_list("stripe_id", flat=True)) == (
        dropped
    )
    assert _all_applied(), list(
        StripeEvent.objects.exclude(
            status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]
        ).values_list("type", "status", "last_error")[:10]
    )
    ignored = StripeEvent.objects.filter(status=EventStatus.IGNORED)
    wanted = [event.type for event in ignored if event_wanted(event.payload)]
    assert wanted == [], "an event we handle was ignored"

    # Every donation and monthly gift is there, in the state the plan left it.
    donations = Donation.objects.values_list("donor_email", "amount", "frequency", "status")
    assert Counter(donations) == expected.donations
    monthly = RecurringDonation.objects.values_list("donor_email", "amount", "state")
    assert Counter(monthly) == expected.monthly

    # The month's export equals the plan to the cent, per kind and in total.
    rows = _export(tmp_path / "month.csv", *period)
    assert _per_kind(rows) == expected.kinds
    assert sum(cents(r["net"]) for r in rows if r["kind"] != "payout") == sum(
        expected.payouts.values()
    )
    assert sum(cents(r["net"]) for r in rows) == 0  # everything the month made was paid out
    # Every gift row with its method, frequency, donor and channel, as the plan has it.
    gift_rows = [r for r in rows if r["kind"] == TransactionKind.GIFT]
    assert Counter(_exported_gift(r) for r in gift_rows) == Counter(
        _gift_row(g) for g in expected.gifts
    )
    for row in gift_rows:
        assert all(row[c] for c in ("method", "frequency", "channel", "donor_name", "donor_email"))
    reversals = Counter(
        (r["kind"], cents(r["gross"]), cents(r["fee"]), r["donor_email"])
        for r in rows
        if r["kind"] in {"refund", "dispute", "dispute_won"}
    )
    assert reversals == _reversal_rows(plan, expected)

    # Each succeeded gift is thanked exactly once, by email to its donor.
    while notices_send(max_seconds=30):
        pass
    thanks = DonorNotice.objects.filter(kind=NoticeKind.THANKS).select_related("donation")
    assert Counter(n.donation.donor_email for n in thanks if n.donation) == Counter(
        g.email for g in expected.gifts
    )
    assert Counter(notice.donation_id for notice in thanks).most_common(1)[0][1] == 1
    assert not thanks.filter(sent_at__isnull=True).exists()
    sent_to = {
        str(m.message["Message-ID"]): m.rcpt_tos for m in smtp_server.wait_for(thanks.count())
    }
    for notice in thanks:
        assert notice.donation is not None
        assert sent_to[f"<notice-{notice.pk}@{settings.MAILING_DOMAIN}>"] == [
            notice.donation.donor_email
        ]

    # Both payouts reconcile with zero differences, for the amounts the plan adds up to.
    for key, amount in expected.payouts.items():
        result = payout_reconciliation(month.payouts[key])
        assert result.differences == []
        assert result.ok
        assert result.amount == result.stripe_net == result.ledger_net == amount
        payout_rows = _export(tmp_path / f"{key}.csv", "--payout", month.payouts[key])
        assert {r["reconciliation"] for r in payout_rows} == {"ok"}
    report, status = _reconcile_payouts(*period)
    assert status == 0, report
    assert report.endswith("2 payouts, 0 flagged, 0 ledger rows due but not paid out\n")

    # When a gift row the mid-month payout settled goes missing from the ledger,
    lost = next(
        g
        for g in sorted(expected.gifts, key=lambda g: g.key)
        if expected.settled_by[g.key] == "po1"
    )
    balance = fake_stripe.get(month.charges[lost.key])["balance_transaction"]
    _ledger_row_lost(
        Transaction.objects.get(kind=TransactionKind.GIFT, stripe_balance_transaction=balance)
    )

    # then that payout is not ok, naming the balance transaction; the other still is.
    result = payout_reconciliation(month.payouts["po1"])
    assert not result.ok
    [difference] = result.differences
    assert (difference.problem, difference.balance_transaction) == (Problem.NOT_IN_LEDGER, balance)
    assert difference.stripe == Money(lost.amount, lost.fee, lost.amount - lost.fee, "eur")
    assert difference.ledger is None
    assert payout_reconciliation(month.payouts["po2"]).ok
    report, status = _reconcile_payouts(*period)
    assert status == 1
    assert f"not_in_ledger  {balance}" in report
    assert "2 payouts, 1 flagged" in report
