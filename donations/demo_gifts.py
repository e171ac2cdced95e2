"""The demo's months of gifts, made the way gifts really happen, for the finance pages.

Every gift starts as our Donation and Checkout Session (donations.checkout, stripe-python),
is paid, renewed, refunded, disputed and paid out by the local Stripe (devstripe's control
API, its clock turned back so each happens on its day), and reaches the ledger only as the
signed webhooks the app receives from it, booked by the Celery worker like real traffic. Only
for the demo: it needs devstripe at STRIPE_API_BASE (the run command starts it), and it is
idempotent: once the demo donors have gifts, it adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.utils import timezone

from campaign.models import Campaign
from devstripe.control import control
from donations import stripe_api
from donations.agreements import agreement_create, agreement_sign
from donations.checkout import GiftRequest, checkout_start, donation_create
from donations.models import (
    Donation,
    EventStatus,
    Frequency,
    Method,
    PeriodicGiftAgreement,
    RecurringDonation,
    StatementRun,
    StripeCampaign,
    StripeEvent,
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


@dataclass
class Seeding:
    """The local Stripe's account as the seed moves through its days."""

    api_base: str
    offset: int = 0  # seconds the local Stripe's clock is behind (negative)
    charges: dict[str, str] = field(default_factory=dict)  # donor name -> charge id
    subscriptions: list[str] = field(default_factory=list)
    dispute_id: str = ""
    say: Callable[[str], None] = print

    def call(self, name: str, /, **arguments: Any) -> Any:
        return control(self.api_base, name, **arguments)

    def day(self, days_ago: int) -> None:
        """Turn the local Stripe's clock to `days_ago` days before now."""
        wanted = -days_ago * DAY
        self.call("advance_time", seconds=wanted - self.offset)
        self.offset = wanted


def already_seeded() -> bool:
    return Donation.objects.filter(
        donor_email__startswith=DONOR_PREFIX, donor_email__endswith=f"@{DONOR_DOMAIN}"
    ).exists()


def _give(seeding: Seeding, donor: Donor, euros: int, method: str, frequency: str) -> None:
    """A donor on the donate page, then on the checkout page pressing Pay."""
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
    checkout_start(donation=donation)
    donation.refresh_from_db()
    session = seeding.call(
        "complete_checkout", session_id=donation.stripe_checkout_session, method=method
    )
    if session.get("subscription"):
        seeding.subscriptions.append(session["subscription"])
    elif session.get("payment_intent"):
        charge = stripe_api.payment_intent_retrieve(session["payment_intent"])["latest_charge"]
        seeding.charges[donor.name] = charge if isinstance(charge, str) else charge["id"]


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


def _timeline(seeding: Seeding) -> list[tuple[int, int, Callable[[], None]]]:
    """(days ago, order within the day, step): everything the account goes through."""
    steps: list[tuple[int, int, Callable[[], None]]] = []
    for days, donor, euros, method in MONTHLY:
        steps.append((days, 0, partial(_give, seeding, donor, euros, method, "monthly")))
    for days, donor, euros, method in ONE_OFF:
        steps.append((days, 0, partial(_give, seeding, donor, euros, method, "one_off")))
    for renewal_day in (58, 28):  # a month after the first payments, and again

        def renew_all() -> None:
            for subscription in seeding.subscriptions:
                seeding.call("renew", subscription_id=subscription)

        steps.append((renewal_day, 1, renew_all))
    link_days, link_donor, link_euros, link_method = LINK_GIFT
    steps.append(
        (
            link_days,
            0,
            partial(
                seeding.call,
                "payment_link_pay",
                amount=link_euros * 100,
                email=link_donor.email,
                name=link_donor.name,
                method=link_method,
                link_id=SOCIAL_LINK,
            ),
        )
    )
    steps.append(
        (REFUND_DAY, 1, lambda: seeding.call("refund", charge_id=seeding.charges[REFUNDED]))
    )

    def dispute() -> None:
        seeding.dispute_id = seeding.call("dispute", charge_id=seeding.charges[DISPUTED])["id"]

    def dispute_lost() -> None:
        seeding.call("close_dispute", dispute_id=seeding.dispute_id, won=False)

    steps.append((DISPUTE_DAY, 1, dispute))
    steps.append((DISPUTE_LOST_DAY, 1, dispute_lost))
    for payout_day in PAYOUT_DAYS:

        def payout() -> None:
            wait_until_booked()  # the payout settles what the ledger already holds
            seeding.call("payout")

        steps.append((payout_day, 2, payout))
    return sorted(steps, key=lambda step: (-step[0], step[1]))


def seed_demo_gifts(say: Callable[[str], None] = print) -> int:
    """Make the demo's gifts (once); returns how many gifts the demo donors have."""
    if already_seeded():
        return Donation.objects.filter(donor_email__endswith=f"@{DONOR_DOMAIN}").count()
    seeding = Seeding(api_base=settings.STRIPE_API_BASE, say=say)
    campaign = Campaign.objects.order_by("pk").first()
    if campaign is not None:
        StripeCampaign.objects.get_or_create(
            stripe_id=SOCIAL_LINK,
            defaults={"campaign": campaign, "note": "Link in de Instagram-bio"},
        )
    try:
        for days, _order, step in _timeline(seeding):
            seeding.day(days)
            step()
    finally:
        seeding.day(0)
    wait_until_booked()
    _paperwork()
    return Donation.objects.filter(donor_email__endswith=f"@{DONOR_DOMAIN}").count()


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
