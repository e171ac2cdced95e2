"""A month of Stripe events for 200 gifts, delivered three times in shuffled order through two
worker processes at once: the ledger equals what Stripe's own balance says, every gift is
thanked exactly once, and reconcile finds events the webhook never delivered."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from typing import Any

import pytest

from devstripe.methods import DAY
from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.handlers import event_wanted
from donations.models import (
    Donation,
    DonationStatus,
    DonorNotice,
    EventStatus,
    Frequency,
    Method,
    RecurringDonation,
    RecurringState,
    StripeEvent,
    Transaction,
)
from donations.reconcile import reconcile_stripe
from tests.harness.smtp import SmtpServer
from tests.harness.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ONE_OFF_METHODS = [Method.IDEAL, Method.CARD, Method.BANCONTACT]


def _gift(fake: FakeStripe, *, frequency: Frequency, method: Method, amount: int) -> Donation:
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=amount,
            frequency=frequency,
            method=method,
            email=f"gever-{uuid.uuid4().hex[:10]}@voorbeeld.nl",
            name="Gever",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    return donation


def _month_of_activity(fake: FakeStripe, rng: random.Random) -> dict[str, Any]:
    """Build the month at the fake Stripe (nothing delivered yet); return what happened."""
    story: dict[str, Any] = {"failed": set(), "processing": set()}
    charges: list[str] = []
    for n in range(200):
        monthly = n % 5 == 0  # 40 monthly gifts, 160 one-off
        if monthly:
            donation = _gift(
                fake,
                frequency=Frequency.MONTHLY,
                method=Method.IDEAL,
                amount=rng.choice([1000, 1500, 2500]),
            )
            fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
            continue
        method = rng.choice(ONE_OFF_METHODS)
        donation = _gift(
            fake,
            frequency=Frequency.ONE_OFF,
            method=method,
            amount=rng.choice([500, 1000, 2500, 5000, 7500]),
        )
        if n % 23 == 1:
            fake.complete_checkout(donation.stripe_checkout_session, "failed", method)
            story["failed"].add(donation.uuid)
        elif n % 17 == 2:
            session = fake.complete_checkout(donation.stripe_checkout_session, "processing", method)
            intent = session["payment_intent"]
            intent_id = intent if isinstance(intent, str) else intent["id"]
            succeed = n % 2 == 0
            fake.settle(intent_id, succeed=succeed)
            (story["processing"] if succeed else story["failed"]).add(donation.uuid)
        else:
            fake.complete_checkout(donation.stripe_checkout_session, "paid", method)
    # Next month's SEPA debits: most succeed, some fail.
    for k, subscription in enumerate(fake.objects("subscription")):
        fake.announce_upcoming(subscription["id"])
        fake.renew(subscription["id"], succeed=k % 7 != 3)
    charges = [c["id"] for c in fake.objects("charge") if c["status"] == "succeeded"]
    rng.shuffle(charges)
    for charge_id in charges[:8]:
        fake.refund(charge_id)  # full refunds
    for charge_id in charges[8:12]:
        charge = fake.get(charge_id)
        fake.refund(charge_id, amount=charge["amount"] // 2)  # partial refunds
    dispute = fake.dispute(charges[12])
    fake.close_dispute(dispute["id"], won=False)
    won = fake.dispute(charges[13])
    fake.close_dispute(won["id"], won=True)
    fake.advance_time(7 * DAY)  # the payout settles what is available: SEPA's money too
    fake.payout()
    return story


def _expected_ledger(fake: FakeStripe) -> Counter[tuple[str, str, int, int]]:
    """The ledger as Stripe's balance transactions describe it, independent of our code."""
    rows: Counter[tuple[str, str, int, int]] = Counter()
    for charge in fake.objects("charge"):
        if charge["status"] != "succeeded":
            continue
        balance = fake.get(charge["balance_transaction"])
        rows[("gift", charge["id"], balance["amount"], balance["fee"])] += 1
    for refund in fake.objects("refund"):
        balance = fake.get(refund["balance_transaction"])
        rows[("refund", refund["id"], -refund["amount"], balance["fee"])] += 1
    for dispute in fake.objects("dispute"):
        for balance in fake.get(dispute["id"])["balance_transactions"]:
            kind = "dispute_won" if balance["amount"] > 0 else "dispute"
            rows[(kind, balance["id"], balance["amount"], balance["fee"])] += 1
    for payout in fake.objects("payout"):
        rows[("payout", payout["id"], -payout["amount"], 0)] += 1
    return rows


def _ledger() -> Counter[tuple[str, str, int, int]]:
    return Counter(Transaction.objects.values_list("kind", "stripe_object", "amount", "fee"))


def _all_applied() -> bool:
    return not StripeEvent.objects.exclude(
        status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]
    ).exists()


def test_a_storm_of_shuffled_duplicates_gives_the_in_order_ledger(
    live_server: Any,
    fake_stripe: FakeStripe,
    celery_worker: Any,
    smtp_server: SmtpServer,
    settings: Any,
) -> None:
    # Given a month of activity at Stripe whose events we have not received yet.
    settings.SITE_URL = live_server.url
    fake_stripe.auto_deliver = False
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    story = _month_of_activity(fake_stripe, random.Random(20261128))
    events = fake_stripe.events()
    env = {
        "STRIPE_API_BASE": fake_stripe.api_base,
        "STRIPE_SECRET_KEY": settings.STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": fake_stripe.webhook_secret,
        "EMAIL_URL": smtp_server.url,
        "SITE_URL": live_server.url,
    }
    celery_worker(**env)
    celery_worker(**env)

    # When every event arrives three times, shuffled, from four senders at once.
    statuses = fake_stripe.deliver(events, times=3, shuffle=True, threads=4)

    # Then each was acknowledged, stored once, and applied once by the two workers.
    assert Counter(statuses) == Counter({200: 3 * len(events)})
    assert StripeEvent.objects.count() == len(events)
    try:
        wait_until(_all_applied, timeout=120, interval=0.5)
    except TimeoutError:
        waiting = StripeEvent.objects.exclude(
            status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]
        )
        pytest.fail(
            "not applied: "
            + repr(list(waiting.values_list("type", "status", "attempts", "last_error")[:15]))
        )
    ignored = StripeEvent.objects.filter(status=EventStatus.IGNORED)
    wanted = [event.type for event in ignored if event_wanted(event.payload)]
    assert wanted == [], "an event we handle was ignored"

    # The ledger is exactly Stripe's balance movements: nothing twice, nothing missing.
    assert _ledger() == _expected_ledger(fake_stripe)
    # Statuses follow the money, whatever order the events came in.
    failed = set(
        Donation.objects.filter(status=DonationStatus.FAILED).values_list("uuid", flat=True)
    )
    assert story["failed"] <= failed
    paid_like = {
        DonationStatus.PAID,
        DonationStatus.PARTIALLY_REFUNDED,
        DonationStatus.REFUNDED,
        DonationStatus.DISPUTED,
    }
    for uuid_ in story["processing"]:
        assert Donation.objects.get(uuid=uuid_).status in paid_like
    refunds = list(
        Transaction.objects.filter(kind="refund").values_list(
            "donation__status", "donation__frequency", "amount", "stripe_charge"
        )
    )
    assert Donation.objects.filter(status=DonationStatus.REFUNDED).count() >= 8, refunds
    assert Donation.objects.filter(status=DonationStatus.DISPUTED).count() == 2
    assert RecurringDonation.objects.filter(state=RecurringState.ACTIVE).count() >= 30

    # Each gift that was paid got exactly one thank-you email, and nothing else got one.
    thanked = Donation.objects.filter(transactions__kind="gift").distinct()
    assert DonorNotice.objects.filter(kind="thanks").count() == thanked.count()
    wait_until(lambda: not DonorNotice.objects.filter(sent_at__isnull=True).exists(), timeout=60)
    notices = DonorNotice.objects.count()
    messages = smtp_server.wait_for(notices, timeout=60)
    per_message_id = Counter(m.message["Message-ID"] for m in messages)
    assert len(messages) == notices
    assert max(per_message_id.values()) == 1
    thanks_to = Counter(m.rcpt_tos[0] for m in messages if "Dank" in str(m.message["Subject"]))
    # Monthly donors are thanked for their first and their second month.
    assert sum(thanks_to.values()) == thanked.count()


def test_events_the_webhook_missed_are_found_by_reconcile(
    fake_stripe: FakeStripe, settings: Any
) -> None:
    # Given paid gifts whose webhooks never reached us.
    fake_stripe.auto_deliver = False
    donations = [
        _gift(fake_stripe, frequency=Frequency.ONE_OFF, method=Method.IDEAL, amount=2500)
        for _ in range(3)
    ]
    for donation in donations:
        fake_stripe.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    assert StripeEvent.objects.count() == 0

    # When reconcile runs (twice: the second finds nothing new).
    added = reconcile_stripe()
    again = reconcile_stripe()
    from donations.inbox import inbox_drain

    inbox_drain()

    # Then every event is stored once and every payment is in the ledger.
    assert added == len(fake_stripe.events())
    assert again == 0
    assert set(StripeEvent.objects.values_list("via", flat=True)) == {"reconcile"}
    for donation in donations:
        donation.refresh_from_db()
        assert donation.status == DonationStatus.PAID
    assert _ledger() == _expected_ledger(fake_stripe)
