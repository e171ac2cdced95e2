"""The demo's months of gifts, made the way gifts really happen, for the finance pages.

Every gift starts as our Donation and Checkout Session (donations.checkout, stripe-python),
is paid, renewed, refunded, disputed and paid out by the local Stripe (devstripe's control
API, its clock turned back so each happens on its day), and reaches the ledger only as the
signed webhooks the app receives from it, booked by the Celery worker like real traffic. Only
for the demo: it needs devstripe at STRIPE_API_BASE (the run command starts it).

Resumable: each step of the plan is recorded (DemoSeedStep) once done, so a run killed half-way
is finished by the next, which skips what is recorded and finishes a gift left mid-checkout
instead of starting it again; a complete seed adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from campaign.models import Campaign
from devstripe.control import control
from donations import stripe_api
from donations.agreements import agreement_create, agreement_sign
from donations.checkout import GiftRequest, checkout_start, donation_create
from donations.models import (
    DemoSeedStep,
    Donation,
    EventStatus,
    Frequency,
    Method,
    PeriodicGiftAgreement,
    RecurringDonation,
    StatementRun,
    StripeCampaign,
    StripeEvent,
    Transaction,
    TransactionKind,
)
from donations.statements import statement_run_start

DAY = 86_400
DONOR_DOMAIN = "example.org"  # reserved for examples: no real person gets these gifts' mail
DONOR_PREFIX = "demo."


@dataclass(frozen=True)
class Donor:
    name: str
    language: str = "nl"

    @property
    def email(self) -> str:
        return f"{DONOR_PREFIX}{self.name.lower().replace(' ', '.')}@{DONOR_DOMAIN}"


# (days ago, donor, euros, method): one-off gifts over the last three months.
ONE_OFF = [
    # Last December's gifts: the year that has ended gets its annual statements.
    (362, Donor("Pieter Smit"), 50, Method.CARD),
    (355, Donor("Kim de Jong"), 25, Method.IDEAL),
    (86, Donor("Sanne de Vries"), 25, Method.IDEAL),
    (81, Donor("Mark Jansen"), 50, Method.CARD),
    (77, Donor("Lotte Bakker"), 10, Method.BANCONTACT),
    (72, Donor("Emma Visser", "en"), 35, Method.CARD),
    (66, Donor("Daan Smit"), 15, Method.IDEAL),
    (61, Donor("Fleur Meijer"), 100, Method.IDEAL),
    (54, Donor("Noah de Boer"), 20, Method.CARD),
    (49, Donor("Julia Mulder"), 25, Method.BANCONTACT),
    (43, Donor("Sem de Groot", "en"), 40, Method.IDEAL),
    (36, Donor("Tess Bos"), 75, Method.CARD),
    (30, Donor("Finn Vos"), 12, Method.IDEAL),
    (23, Donor("Isa Peters"), 30, Method.IDEAL),
    (16, Donor("Levi Hendriks"), 60, Method.CARD),
    (9, Donor("Mila van Dijk"), 25, Method.BANCONTACT),
    (3, Donor("Lucas Dekker"), 15, Method.IDEAL),
]
# (days ago, donor, euros a month, first payment): monthly gifts, debited by SEPA after that.
MONTHLY = [
    (88, Donor("Anouk Willems"), 15, Method.IDEAL),
    (84, Donor("Bram Koster"), 10, Method.CARD),
    (70, Donor("Eva Maas", "en"), 20, Method.IDEAL),
]
# A Payment Link shared on social media, which finance mapped to the campaign (StripeCampaign):
# (days ago, donor, euros, method) of the gift made through it.
SOCIAL_LINK = "plink_demoSocialMedia"
LINK_GIFT = (20, Donor("Sophie Jacobs"), 20, Method.IDEAL)
REFUND_DAY, REFUNDED = 68, "Mark Jansen"  # asked for the money back: a full refund
DISPUTE_DAY, DISPUTED, DISPUTE_LOST_DAY = 40, "Noah de Boer", 25  # the bank took it back
PAYOUT_DAYS = (45, 4)
RENEWAL_DAYS = (58, 28)  # a month after the first payments, and again
STARTED, COMPLETE = "started", "complete"


@dataclass
class Seeding:
    """The local Stripe's account as the seed moves through its days."""

    api_base: str
    offset: int = 0  # seconds the local Stripe's clock is behind (negative)
    charges: dict[str, str] = field(default_factory=dict)  # donor name -> charge id
    subscriptions: dict[str, str] = field(default_factory=dict)  # donor name -> subscription
    dispute_id: str = ""
    say: Callable[[str], None] = print

    def call(self, name: str, /, **arguments: Any) -> Any:
        return control(self.api_base, name, **arguments)

    def day(self, days_ago: int) -> None:
        """Turn the local Stripe's clock to `days_ago` days before now."""
        wanted = -days_ago * DAY
        self.call("advance_time", seconds=wanted - self.offset)
        self.offset = wanted


def forget_stale_stripe(state_file: Path) -> bool:
    """A new database must not meet the account devstripe saved for an old one (its gifts
    would be missing here, or booked twice): delete the state file unless this database has
    begun a seed or holds gifts. True when a file was deleted."""
    if DemoSeedStep.objects.exists() or Donation.objects.exists() or not state_file.exists():
        return False
    state_file.unlink()
    return True


def already_seeded() -> bool:
    """The plan ran to its end; or a demo seeded before steps were recorded (donors, no
    record of a start), which is left as it is."""
    if DemoSeedStep.objects.filter(key=COMPLETE).exists():
        return True
    return (
        not DemoSeedStep.objects.filter(key=STARTED).exists()
        and Donation.objects.filter(
            donor_email__startswith=DONOR_PREFIX, donor_email__endswith=f"@{DONOR_DOMAIN}"
        ).exists()
    )


def _give(seeding: Seeding, donor: Donor, euros: int, method: str, frequency: str) -> str:
    """A donor on the donate page, then on the checkout page pressing Pay; returns the gift's
    subscription (monthly) or charge. A donation this donor started in a killed run is
    finished instead of starting a second gift."""
    donation = (
        Donation.objects.filter(donor_email=donor.email, frequency=frequency)
        .order_by("created_at")
        .first()
    )
    if donation is None:
        donation = donation_create(
            request=GiftRequest(
                amount=euros * 100,
                frequency=Frequency(frequency),
                method=Method(method),
                name=donor.name,
                email=donor.email,
                language=donor.language,
            )
        )
    if not donation.stripe_checkout_session:
        checkout_start(donation=donation)
        donation.refresh_from_db()
    session = stripe_api.checkout_session_retrieve(donation.stripe_checkout_session)
    if session.get("status") == "open":
        session = seeding.call(
            "complete_checkout", session_id=donation.stripe_checkout_session, method=method
        )
        session = stripe_api.checkout_session_retrieve(session["id"])
    if session.get("subscription"):
        return _id(session["subscription"])
    charge = stripe_api.payment_intent_retrieve(_id(session["payment_intent"]))["latest_charge"]
    return _id(charge)


def _id(value: Any) -> str:
    return value if isinstance(value, str) else str(value["id"])


def wait_until_booked(timeout: float = 120.0, quiet: float = 1.5) -> None:
    """Until the webhooks stopped coming and the worker applied every event they brought."""
    deadline = time.monotonic() + timeout
    seen, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = StripeEvent.objects.count()
        waiting = StripeEvent.objects.filter(status=EventStatus.RECEIVED).exists()
        if count != seen or waiting:
            seen, still_since = count, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return
        time.sleep(0.25)
    raise TimeoutError("the worker did not book the demo's Stripe events in time")


Step = tuple[int, int, str, Callable[[], str]]


def _timeline(seeding: Seeding) -> list[Step]:
    """(days ago, order within the day, key, step): everything the account goes through. A
    step returns what later steps need of it (kept with its key), or ""."""
    steps: list[Step] = []
    for days, donor, euros, method in MONTHLY:
        give = partial(_give, seeding, donor, euros, method, "monthly")
        steps.append((days, 0, f"monthly:{donor.email}", give))
    for days, donor, euros, method in ONE_OFF:
        give = partial(_give, seeding, donor, euros, method, "one_off")
        steps.append((days, 0, f"one_off:{donor.email}", give))
    for renewal, renewal_day in enumerate(RENEWAL_DAYS):
        for _days, donor, _euros, _method in MONTHLY:
            renew = partial(_renew, seeding, donor, 2 + renewal)  # its first payment, renewals
            steps.append((renewal_day, 1, f"renew:{renewal_day}:{donor.email}", renew))
    steps.append((LINK_GIFT[0], 0, "payment_link", partial(_link_gift, seeding)))
    steps.append((REFUND_DAY, 1, "refund", partial(_refund, seeding)))
    steps.append((DISPUTE_DAY, 1, "dispute", partial(_dispute, seeding)))
    steps.append((DISPUTE_LOST_DAY, 1, "dispute_lost", partial(_dispute_lost, seeding)))
    for number, payout_day in enumerate(PAYOUT_DAYS, start=1):
        steps.append((payout_day, 2, f"payout:{payout_day}", partial(_payout, seeding, number)))
    return sorted(steps, key=lambda step: (-step[0], step[1]))


def _renew(seeding: Seeding, donor: Donor, payments: int) -> str:
    """The monthly gift's next payment, unless a killed run made it (it is booked by now: a
    resumed run waits for the worker first), which would leave it at `payments`."""
    made = Donation.objects.filter(donor_email=donor.email, frequency="monthly").count()
    if made < payments:
        seeding.call("renew", subscription_id=seeding.subscriptions[donor.name])
    return ""


def _link_gift(seeding: Seeding) -> str:
    _days, donor, euros, method = LINK_GIFT
    if not Donation.objects.filter(donor_email=donor.email).exists():  # not paid in a killed run
        seeding.call(
            "payment_link_pay",
            amount=euros * 100,
            email=donor.email,
            name=donor.name,
            method=method,
            link_id=SOCIAL_LINK,
        )
    return ""


def _refund(seeding: Seeding) -> str:
    charge = seeding.charges[REFUNDED]
    if not stripe_api.charge_retrieve(charge).get("refunded"):  # refunded in a killed run?
        seeding.call("refund", charge_id=charge)
    return ""


def _dispute(seeding: Seeding) -> str:
    charge = stripe_api.charge_retrieve(seeding.charges[DISPUTED])
    if charge.get("disputed"):  # disputed in a killed run: that dispute
        return str(stripe_api.disputes_of_charge(charge["id"])[0]["id"])
    return str(seeding.call("dispute", charge_id=charge["id"])["id"])


def _dispute_lost(seeding: Seeding) -> str:
    if stripe_api.dispute_retrieve(seeding.dispute_id).get("status") not in {"lost", "won"}:
        seeding.call("close_dispute", dispute_id=seeding.dispute_id, won=False)
    return ""


def _payout(seeding: Seeding, number: int) -> str:
    """The `number`th payout (from 1), unless a killed run made it (booked by now)."""
    wait_until_booked()  # the payout settles what the ledger already holds
    if Transaction.objects.filter(kind=TransactionKind.PAYOUT).count() < number:
        seeding.call("payout")
    return ""


def _restore(seeding: Seeding, key: str, result: str) -> None:
    """What a step done in an earlier run left for the later ones."""
    kind, _, email = key.partition(":")
    donors = {donor.email: donor for _d, donor, _e, _m in [*MONTHLY, *ONE_OFF]}
    if kind == "monthly":
        seeding.subscriptions[donors[email].name] = result
    elif kind == "one_off":
        seeding.charges[donors[email].name] = result
    elif kind == "dispute":
        seeding.dispute_id = result


class StripeGone(Exception):
    """The Stripe account the killed run used no longer knows its gifts."""


def _same_stripe(done: dict[str, str]) -> None:
    """A run is finished against the account it started on: later steps refund, dispute,
    renew and pay out its gifts. The run command's devstripe keeps it in var/ (--state-file);
    without that file a killed run's devstripe comes back empty: say so plainly rather than
    fail half-way."""
    known = [(k, r) for k, r in done.items() if k.startswith(("one_off:", "monthly:")) and r]
    pending = Donation.objects.filter(
        donor_email__endswith=f"@{DONOR_DOMAIN}", status="pending"
    ).exclude(stripe_checkout_session="")
    try:
        for key, result in known[:1]:
            if key.startswith("monthly:"):
                stripe_api.subscription_retrieve(result)
            else:
                stripe_api.charge_retrieve(result)
        for donation in pending[:1]:
            stripe_api.checkout_session_retrieve(donation.stripe_checkout_session)
    except stripe_api.StripeError as exc:
        raise StripeGone(
            "the local Stripe that the interrupted seed used is gone (devstripe ran without "
            "its --state-file, or the file was deleted), so its gifts cannot be refunded, "
            "renewed or paid out; start the demo from an empty var/ folder"
        ) from exc


def _donor_gifts() -> int:
    return Donation.objects.filter(donor_email__endswith=f"@{DONOR_DOMAIN}").count()


def seed_demo_gifts(say: Callable[[str], None] = print) -> int:
    """Make the demo's gifts, or finish a run that was killed; returns how many gifts the demo
    donors have."""
    if already_seeded():
        return _donor_gifts()
    resumed = DemoSeedStep.objects.filter(key=STARTED).exists()
    DemoSeedStep.objects.get_or_create(key=STARTED)
    done = dict(DemoSeedStep.objects.values_list("key", "result"))
    seeding = Seeding(api_base=settings.STRIPE_API_BASE, say=say)
    # A killed run left the local Stripe's clock turned back: start from where it is.
    seeding.offset = int(seeding.call("advance_time", seconds=0)) - int(time.time())
    if resumed:
        say(f"Finishing the demo gifts: {len(done) - 1} steps were done before.")
        _same_stripe(done)
        wait_until_booked()  # what the killed run's steps sent is booked before going on
    campaign = Campaign.objects.order_by("pk").first()
    if campaign is not None:
        StripeCampaign.objects.get_or_create(
            stripe_id=SOCIAL_LINK,
            defaults={"campaign": campaign, "note": "Link in de Instagram-bio"},
        )
    try:
        for days, _order, key, step in _timeline(seeding):
            if key in done:
                _restore(seeding, key, done[key])
                continue
            seeding.day(days)
            result = step()
            _restore(seeding, key, result)
            DemoSeedStep.objects.create(key=key, result=result)
    finally:
        seeding.day(0)
    wait_until_booked()
    _paperwork()
    DemoSeedStep.objects.get_or_create(key=COMPLETE)
    return _donor_gifts()


def _paperwork() -> None:
    """What finance did with those gifts: last year's annual statements sent (the mail queue
    prepares and sends them), and a signed five-year agreement for the first monthly donor."""
    last_year = timezone.localdate().year - 1
    if not StatementRun.objects.filter(year=last_year).exists():
        statement_run_start(year=last_year)
    first_monthly = MONTHLY[0][1]
    recurring = RecurringDonation.objects.filter(donor_email=first_monthly.email).first()
    if recurring is not None and not PeriodicGiftAgreement.objects.exists():
        agreement = agreement_create(
            recurring=recurring,
            yearly_amount=recurring.amount * 12,
            start_year=timezone.localdate().year + 1,
            term_years=5,
        )
        agreement_sign(agreement=agreement)
