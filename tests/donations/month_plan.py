"""The plan of a month of Stripe traffic, as plain data, and what the books must say about it.

Written before anything runs and computed from the plan alone: never from our handlers, the
events' payloads or the fake's objects. The fee rules are the fake Stripe's documented table
(devstripe/README.md: card 1.5% + €0.25, iDEAL €0.29, Bancontact 1.4% + €0.25, SEPA
€0.35, a dispute €15), restated here so the plan does not run the fake's code either; so is
when money becomes available to pay out (midnight UTC two days after a payment settled, seven
for SEPA; refunds and disputes at once): a payout settles only what is available.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

DAY = 86_400
HOUR = 3_600
# (percent, fixed cents) per method.
FEES = {
    "card": (Decimal("1.5"), 25),
    "ideal": (Decimal(0), 29),
    "bancontact": (Decimal("1.4"), 25),
    "sepa_debit": (Decimal(0), 35),
}
DISPUTE_FEE = 1500
# Days after the settling day until a payment's money can be paid out (at midnight UTC, which
# is before the 06:00 payouts of the plan's days, whose activity is 08:00-20:00 Amsterdam).
AVAILABLE_AFTER_DAYS = {"card": 2, "ideal": 2, "bancontact": 2, "sepa_debit": 7}
DISPUTABLE = {"card", "sepa_debit"}
# What the following payments of a subscription are debited by: Checkout turns an iDEAL first
# payment into a SEPA Direct Debit mandate; a card stays a card.
RENEWED_BY = {"ideal": "sepa_debit", "card": "card", "sepa_debit": "sepa_debit"}
# Export values: the gift's frequency and the door it came through (channel).
FREQUENCY = {False: "one-off", True: "recurring"}
CHANNEL = {
    "donate_page": "donate_page",
    "payment_link": "payment_link",
    "dashboard": "dashboard",
    "dashboard_subscription": "dashboard",
    "invoice": "invoice",
    "legacy_charge": "dashboard",  # an older integration's Charges API call: no session
}
FIRST = ["Anouk", "Bram", "Chaima", "Daan", "Elif", "Finn", "Hanna", "Jesse", "Lotte", "Milan"]
LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder"]


def stripe_fee(method: str, amount: int) -> int:
    percent, fixed = FEES[method]
    share = (Decimal(amount) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(share) + fixed


@dataclass(frozen=True)
class Payment:
    """A donor paying through a door; monthly ones start a subscription."""

    key: str
    # donate_page, payment_link, dashboard, dashboard_subscription, invoice, legacy_charge
    door: str
    method: str
    amount: int
    at: int  # seconds into the month
    name: str
    email: str
    monthly: bool = False
    fails: bool = False  # declined (or a debit the bank refused): no gift
    locale: str | None = None


@dataclass(frozen=True)
class Renewal:
    """Next month's payment of a subscription; SEPA debits are processing until settle_at."""

    key: str
    of: str  # the Payment that started the subscription
    at: int
    settle_at: int  # = at when the method pays at once
    fails: bool = False


@dataclass(frozen=True)
class Refund:
    key: str
    of: str  # a Payment or Renewal key
    at: int
    amount: int | None = None  # None: in full


@dataclass(frozen=True)
class Dispute:
    key: str
    of: str
    at: int
    close_at: int
    won: bool


@dataclass(frozen=True)
class Payout:
    key: str
    at: int


Step = Payment | Renewal | Refund | Dispute | Payout


@dataclass(frozen=True)
class Gift:
    """A succeeded payment as its export row must read."""

    key: str
    amount: int
    fee: int
    method: str
    frequency: str
    channel: str
    name: str
    email: str
    from_donate_page: bool
    settled_at: int

    @property
    def available_at(self) -> int:
        """When its money can be paid out: the start of the day it becomes available."""
        return (self.settled_at // DAY + AVAILABLE_AFTER_DAYS[self.method]) * DAY


@dataclass
class Expected:
    gifts: list[Gift] = field(default_factory=list)
    # kind -> (rows, gross, fee, net), the ledger's signs
    kinds: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    payouts: dict[str, int] = field(default_factory=dict)  # payout key -> amount to the bank
    settled_by: dict[str, str] = field(default_factory=dict)  # gift key -> payout key
    # Every donation we must hold: (donor email, amount, frequency, status)
    donations: Counter[tuple[str, int, str, str]] = field(default_factory=Counter)
    # Every monthly gift: (donor email, amount, state)
    monthly: Counter[tuple[str, int, str]] = field(default_factory=Counter)


@dataclass
class Plan:
    steps: list[Step]

    def of_kind[T](self, kind: type[T]) -> list[T]:
        return [step for step in self.steps if isinstance(step, kind)]

    def payment(self, key: str) -> Payment:
        return next(p for p in self.of_kind(Payment) if p.key == key)

    def expected(self) -> Expected:
        expected = Expected()
        moves: list[tuple[int, str, int, int]] = []  # (at, kind, gross, fee)
        gifts = {gift.key: gift for gift in self._gifts()}
        expected.gifts = list(gifts.values())
        # Each move at the moment its money can be paid out.
        moves += [(g.available_at, "gift", g.amount, g.fee) for g in gifts.values()]
        for refund in self.of_kind(Refund):
            gift = gifts[refund.of]
            moves.append((refund.at, "refund", -(refund.amount or gift.amount), 0))
        for dispute in self.of_kind(Dispute):
            amount = gifts[dispute.of].amount
            moves.append((dispute.at, "dispute", -amount, DISPUTE_FEE))
            if dispute.won:
                moves.append((dispute.close_at, "dispute_won", amount, 0))
        since = -1
        for payout in sorted(self.of_kind(Payout), key=lambda p: p.at):
            net = sum(gross - fee for at, _, gross, fee in moves if since < at < payout.at)
            expected.payouts[payout.key] = net
            for gift in gifts.values():
                if since < gift.available_at < payout.at:
                    expected.settled_by[gift.key] = payout.key
            since = payout.at
        moves += [(0, "payout", -amount, 0) for amount in expected.payouts.values()]
        kinds: dict[str, Counter[str]] = {}
        for _at, kind, gross, fee in moves:
            tally = kinds.setdefault(kind, Counter())
            tally.update(rows=1, gross=gross, fee=fee, net=gross - fee)
        expected.kinds = {
            kind: (t["rows"], t["gross"], t["fee"], t["net"]) for kind, t in kinds.items()
        }
        self._donations(expected)
        return expected

    def _donations(self, expected: Expected) -> None:
        """Statuses: failed when declined; disputed once charged back (won or lost), else
        refunded in full or in part, else paid. A monthly gift is past due after a failed
        debit (one of several allowed), else active."""
        refunded = {r.of: r.amount for r in self.of_kind(Refund)}
        disputed = {d.of for d in self.of_kind(Dispute)}

        def status(key: str, fails: bool) -> str:
            if fails:
                return "failed"
            if key in disputed:
                return "disputed"
            if key in refunded:
                return "partially_refunded" if refunded[key] else "refunded"
            return "paid"

        failing = {r.of for r in self.of_kind(Renewal) if r.fails}
        for payment in self.of_kind(Payment):
            frequency = "monthly" if payment.monthly else "one_off"
            delayed = payment.method == "sepa_debit"
            if payment.fails and payment.door != "donate_page" and not delayed:
                continue  # a declined attempt at another door leaves no donation
            row = (payment.email, payment.amount, frequency, status(payment.key, payment.fails))
            expected.donations[row] += 1
            if payment.monthly and not payment.fails:
                state = "past_due" if payment.key in failing else "active"
                expected.monthly[(payment.email, payment.amount, state)] += 1
        for renewal in self.of_kind(Renewal):
            first = self.payment(renewal.of)
            row = (first.email, first.amount, "monthly", status(renewal.key, renewal.fails))
            expected.donations[row] += 1

    def _gifts(self) -> list[Gift]:
        gifts: list[Gift] = []
        for payment in self.of_kind(Payment):
            if not payment.fails:
                gifts.append(_gift(payment, payment.key, payment.method, payment.at))
        for renewal in self.of_kind(Renewal):
            if not renewal.fails:
                first = self.payment(renewal.of)
                method = RENEWED_BY[first.method]
                gifts.append(_gift(first, renewal.key, method, renewal.settle_at))
        return gifts


def _gift(payment: Payment, key: str, method: str, settled_at: int) -> Gift:
    return Gift(
        key=key,
        amount=payment.amount,
        fee=stripe_fee(method, payment.amount),
        method=method,
        frequency=FREQUENCY[payment.monthly],
        channel=CHANNEL[payment.door],
        name=payment.name,
        email=payment.email,
        from_donate_page=payment.door == "donate_page",
        settled_at=settled_at,
    )


# (door, how many, methods, monthly): the month's mix of doors.
DOORS = [
    ("donate_page", 17, ["card", "ideal", "bancontact"], False),
    ("donate_page", 4, ["ideal"], True),
    ("donate_page", 2, ["card"], True),
    ("payment_link", 6, ["card", "ideal", "bancontact"], False),
    ("payment_link", 2, ["ideal"], True),
    ("dashboard", 5, ["card", "sepa_debit"], False),
    ("dashboard_subscription", 3, ["sepa_debit"], True),
    ("invoice", 2, ["card"], False),
    ("legacy_charge", 2, ["card"], False),
]
PAYOUT_DAYS = (13, 25)  # the 14th (mid-month) and the 26th (its end), at 06:00
LAST_ACTIVITY_DAY = 24  # everything else happens on the 1st to the 24th, 08:00-20:00
# SEPA debits settle by the 19th, so the last payout pays out the whole month.
LAST_SEPA_DAY = PAYOUT_DAYS[-1] - AVAILABLE_AFTER_DAYS["sepa_debit"]


def _moment(rng: random.Random, day: int) -> int:
    return day * DAY + rng.randrange(8 * HOUR, 20 * HOUR)


def month_plan(seed: int) -> Plan:
    """About fifty payments across every door (legacy charges too), renewals (SEPA ones
    settling days later, one across the mid-month payout, one failing), refunds (one partial),
    a lost and a won dispute, one declined card, one refused dashboard debit, and two
    payouts."""
    rng = random.Random(seed)
    steps: list[Step] = []
    payments: list[Payment] = []
    n = 0
    for door, count, methods, monthly in DOORS:
        for _ in range(count):
            n += 1
            first, last = rng.choice(FIRST), rng.choice(LAST)
            slug = f"{first}.{last}".lower().replace(" ", "")
            method = rng.choice(methods)
            last_day = LAST_SEPA_DAY if method == "sepa_debit" else 19
            payments.append(
                Payment(
                    key=f"p{n}",
                    door=door,
                    method=method,
                    amount=rng.randrange(5, 150) * 100 + rng.choice([0, 0, 50, 99]),
                    at=_moment(rng, rng.randrange(0, 6 if monthly else last_day + 1)),
                    name=f"{first} {last}",
                    email=f"{slug}.{n}@voorbeeld.nl",
                    monthly=monthly,
                    locale="en" if door == "invoice" and n % 2 else None,
                )
            )
    # One donor's card is declined on our donate page; a debit made in the dashboard is
    # refused by the donor's bank (a failed donation, no gift).
    declined = next(p for p in payments if p.door == "donate_page" and p.method == "card")
    payments[payments.index(declined)] = Payment(**{**declined.__dict__, "fails": True})
    refused = next(p for p in payments if p.door == "dashboard")
    payments[payments.index(refused)] = Payment(
        **{**refused.__dict__, "method": "sepa_debit", "fails": True}
    )
    steps += payments
    monthly_payments = [p for p in payments if p.monthly]
    for k, payment in enumerate(monthly_payments):
        if payment.door == "dashboard_subscription" and k % 3 == 0:
            continue  # a new subscription not renewed this month
        delayed = RENEWED_BY[payment.method] == "sepa_debit"
        # A debit settles two or three days after it is made.
        at = _moment(rng, rng.randrange(8, LAST_SEPA_DAY - 2 if delayed else 19))
        settle_at = at + rng.randrange(2, 4) * DAY if delayed else at
        steps.append(Renewal(key=f"r{k}", of=payment.key, at=at, settle_at=settle_at))
    renewals = [s for s in steps if isinstance(s, Renewal)]
    # A SEPA renewal debited before the mid-month payout and settled after it; another that
    # fails when the bank answers.
    sepa = [r for r in renewals if r.settle_at > r.at]
    crossing = Renewal(
        key=sepa[0].key, of=sepa[0].of, at=12 * DAY + 10 * HOUR, settle_at=15 * DAY + 9 * HOUR
    )
    failing = Renewal(sepa[1].key, sepa[1].of, sepa[1].at, sepa[1].settle_at, fails=True)
    steps[steps.index(sepa[0])] = crossing
    steps[steps.index(sepa[1])] = failing
    steps += _reversals(rng, Plan(steps))
    steps += [
        Payout(key=f"po{i + 1}", at=day * DAY + 6 * HOUR) for i, day in enumerate(PAYOUT_DAYS)
    ]
    return Plan(sorted(steps, key=lambda step: step.at))


def _reversals(rng: random.Random, plan: Plan) -> list[Step]:
    """Three full refunds, a partial one, a lost and a won dispute, each on its own gift and
    on a day after the gift settled."""
    gifts = sorted(
        (g for g in plan._gifts() if g.settled_at < (LAST_ACTIVITY_DAY - 3) * DAY),
        key=lambda g: g.key,
    )
    # Only cards and SEPA debits can be charged back (iDEAL and Bancontact cannot).
    disputable = [g for g in gifts if g.method in DISPUTABLE]
    disputed = rng.sample(disputable, 2)
    chosen = rng.sample([g for g in gifts if g not in disputed], 4) + disputed

    def after(gift: Gift, days: int = 1) -> int:
        first_day = gift.settled_at // DAY + 1
        return _moment(rng, rng.randrange(first_day, LAST_ACTIVITY_DAY - days + 1))

    steps: list[Step] = [
        Refund(key=f"refund{i}", of=g.key, at=after(g)) for i, g in enumerate(chosen[:3])
    ]
    partial = chosen[3]
    steps.append(
        Refund(key="refund-partial", of=partial.key, at=after(partial), amount=partial.amount // 3)
    )
    for gift, won in ((chosen[4], False), (chosen[5], True)):
        at = after(gift, days=2)
        steps.append(
            Dispute(key=f"dispute-{gift.key}", of=gift.key, at=at, close_at=at + DAY, won=won)
        )
    return steps
