"""Gifts, recurring gifts, the Stripe webhook inbox and the append-only ledger.

Amounts are integer minor units (cents) with an ISO currency; never floats.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.audit import AuditedFromLoad
from campaign.money import euros


def label(choices: type[models.TextChoices], value: str) -> str:
    """get_FOO_display() for a field with these choices, without the dict of every choice it
    builds on each call: each audit entry names its row (a drain batch writes a hundred)."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


class Frequency(models.TextChoices):
    ONE_OFF = "one_off", _("one-off")
    MONTHLY = "monthly", _("monthly")


class Method(models.TextChoices):
    CARD = "card", _("card")
    IDEAL = "ideal", _("iDEAL")
    BANCONTACT = "bancontact", _("Bancontact")
    SEPA_DEBIT = "sepa_debit", _("SEPA Direct Debit")
    UNKNOWN = "unknown", _("unknown")


class DonationStatus(models.TextChoices):
    # Ordered: a donation's status only ever moves to a later one (see STATUS_RANK).
    PENDING = "pending", _("pending")
    PROCESSING = "processing", _("processing")
    FAILED = "failed", _("failed")
    # The Checkout Session ended unpaid (abandoned, or failed and never tried again).
    EXPIRED = "expired", _("expired")
    PAID = "paid", _("paid")
    PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")
    REFUNDED = "refunded", _("refunded")
    DISPUTED = "disputed", _("disputed")


STATUS_RANK = {
    DonationStatus.PENDING: 0,
    DonationStatus.PROCESSING: 1,
    DonationStatus.FAILED: 2,
    # After failed (a declined attempt, then the session runs out), before paid: the ledger
    # decides over anything Checkout says.
    DonationStatus.EXPIRED: 3,
    DonationStatus.PAID: 4,
    DonationStatus.PARTIALLY_REFUNDED: 5,
    DonationStatus.REFUNDED: 6,
    DonationStatus.DISPUTED: 7,
}

# A gift counts as given once its money arrived; later refunds or disputes do not un-give it.
GIVEN = (
    DonationStatus.PAID,
    DonationStatus.PARTIALLY_REFUNDED,
    DonationStatus.REFUNDED,
    DonationStatus.DISPUTED,
)


class Channel(models.TextChoices):
    """Where a gift came in: only the donate page is ours; the rest are read from Stripe."""

    DONATE_PAGE = "donate_page", _("donate page")
    PAYMENT_LINK = "payment_link", _("Payment Link")
    DASHBOARD = "dashboard", _("Stripe dashboard")
    INVOICE = "invoice", _("invoice")
    OTHER_SITE = "other_site", _("other site")
    UNKNOWN = "unknown", _("unknown")


class Donation(AuditedFromLoad):
    """One gift (a one-off gift, or one payment of a monthly gift)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The donate form's one-time token: a double-clicked submit finds this row again and so
    # reuses its Checkout Session (same idempotency key) instead of starting a second gift.
    request_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    supporter = models.ForeignKey(
        "campaign.Supporter",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="donations",
    )
    recurring = models.ForeignKey(
        "RecurringDonation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="donations",
    )
    # Personal data kept for the books (7 years); pseudonymised on erasure.
    donor_name = models.CharField(max_length=200, blank=True)
    donor_email = models.EmailField(max_length=254, blank=True)
    amount = models.PositiveIntegerField(help_text=_("gift in cents, fee cover included"))
    fee_cover = models.PositiveIntegerField(default=0, help_text=_("part of amount covering fees"))
    currency = models.CharField(max_length=3, default="eur")
    frequency = models.CharField(max_length=10, choices=Frequency.choices)
    method = models.CharField(max_length=12, choices=Method.choices, default=Method.UNKNOWN)
    status = models.CharField(
        max_length=20, choices=DonationStatus.choices, default=DonationStatus.PENDING
    )
    language = models.CharField(max_length=2, default="nl")
    news_opt_in = models.BooleanField(default=False)
    channel = models.CharField(
        _("channel"),
        max_length=20,
        choices=Channel.choices,
        default=Channel.DONATE_PAGE,
        db_index=True,
    )
    # The campaign the gift was given to: the donate page's campaign when it started there.
    campaign = models.ForeignKey(
        "campaign.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="donations",
    )
    # Attribution: the signed token from an email link, and the landing page's UTM tags.
    source_token = models.CharField(max_length=500, blank=True)
    utm = models.JSONField(default=dict, blank=True)
    # The donor's address when the gift started: the card-testing defence counts declined
    # gifts per address (donations.defence) in PostgreSQL, so a Redis flush forgets nothing.
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    stripe_checkout_session = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_invoice = models.CharField(max_length=255, blank=True, unique=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The donate view asks "how many declined gifts from this address lately?"
            models.Index(fields=["client_ip", "created_at"], name="donation_ip_created_idx"),
        ]

    def __str__(self) -> str:
        frequency, status = label(Frequency, self.frequency), label(DonationStatus, self.status)
        return f"{euros(self.amount)} ({frequency}, {status})"


# A Stripe Payment Link (plink_...), price (price_...) or product (prod_...) id.
STRIPE_DOOR_ID = RegexValidator(
    r"^(plink|price|prod)_[A-Za-z0-9]{1,200}$",
    _("Enter a Payment Link (plink_...), price (price_...) or product (prod_...) id from Stripe."),
)


class StripeCampaign(models.Model):
    """The campaign the gifts of a Stripe Payment Link, price or product are for: set by finance
    staff in the back office, so a link shared on social media needs no code or Stripe
    metadata. Applied when such a gift is booked (donations.doors); metadata naming one of our
    campaigns still goes first."""

    stripe_id = models.CharField(
        _("Stripe id"),
        max_length=255,
        unique=True,
        validators=[STRIPE_DOOR_ID],
        help_text=_("As the Stripe dashboard shows it: plink_..., price_... or prod_..."),
    )
    campaign = models.ForeignKey(
        "campaign.Campaign",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("campaign"),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["stripe_id"]
        verbose_name = _("campaign of a Stripe link")
        verbose_name_plural = _("campaigns of Stripe links")

    def __str__(self) -> str:
        return self.stripe_id


class RecurringState(models.TextChoices):
    PENDING = "pending", _("pending")
    ACTIVE = "active", _("active")
    PAUSED = "paused", _("paused")
    PAST_DUE = "past_due", _("past due")
    CANCELLED = "cancelled", _("cancelled")
    LAPSED = "lapsed", _("lapsed")


class RecurringDonation(AuditedFromLoad):
    """A monthly gift: a Stripe subscription, paid by SEPA Direct Debit after the first payment."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    supporter = models.ForeignKey(
        "campaign.Supporter",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recurring_donations",
    )
    donor_name = models.CharField(max_length=200, blank=True)
    donor_email = models.EmailField(max_length=254, blank=True)
    amount = models.PositiveIntegerField(help_text=_("monthly amount in cents"))
    currency = models.CharField(max_length=3, default="eur")
    language = models.CharField(max_length=2, default="nl")
    channel = models.CharField(
        _("channel"), max_length=20, choices=Channel.choices, default=Channel.DONATE_PAGE
    )
    # Every payment of the monthly gift is booked to this campaign (see Donation.campaign).
    campaign = models.ForeignKey(
        "campaign.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(
        max_length=12, choices=RecurringState.choices, default=RecurringState.PENDING
    )
    stripe_subscription = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_customer = models.CharField(max_length=255, blank=True)
    stripe_mandate = models.CharField(max_length=255, blank=True)
    mandate_reference = models.CharField(max_length=100, blank=True)
    failed_payments = models.PositiveSmallIntegerField(default=0)
    next_payment_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return _("%(amount)s monthly (%(state)s)") % {
            "amount": euros(self.amount),
            "state": label(RecurringState, self.state),
        }


class EventStatus(models.TextChoices):
    RECEIVED = "received", _("received")
    PROCESSED = "processed", _("processed")
    IGNORED = "ignored", _("ignored")
    FAILED = "failed", _("failed")


# A failing event is tried this many times, with backoff (donations.inbox), then left for staff.
EVENT_MAX_ATTEMPTS = 12


class StripeEventQuerySet(models.QuerySet["StripeEvent"]):
    def due(self) -> StripeEventQuerySet:
        """Events waiting to be applied, and failed ones whose next attempt has come."""
        return self.filter(
            status__in=[EventStatus.RECEIVED, EventStatus.FAILED],
            attempts__lt=EVENT_MAX_ATTEMPTS,
        ).exclude(next_attempt_at__gt=timezone.now())


class StripeEvent(models.Model):
    """The webhook inbox: every Stripe event once, stored raw before anything else happens."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    stripe_created = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    via = models.CharField(max_length=10, default="webhook")  # webhook | reconcile
    status = models.CharField(
        max_length=10, choices=EventStatus.choices, default=EventStatus.RECEIVED
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When a failed event may be tried again (backoff); NULL means "now" for waiting events.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The gift the event is about, as far as its payload names it (our donation uuid, which
    # payment intents and Checkout Sessions carry), set at receipt: a drain takes a gift's
    # waiting events together, so two drains do not wait on each other's lock on that donation.
    gift_key = models.CharField(max_length=255, blank=True, db_default="")

    objects = StripeEventQuerySet.as_manager()

    class Meta:
        indexes = [
            # The drain's work queue: only events still waiting are indexed.
            models.Index(
                fields=["received_at"],
                name="stripeevent_waiting_idx",
                condition=models.Q(status__in=["received", "failed"]),
            ),
            models.Index(
                fields=["gift_key"],
                name="stripeevent_waiting_gift_idx",
                condition=models.Q(status__in=["received", "failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class TransactionKind(models.TextChoices):
    GIFT = "gift", _("gift")
    REFUND = "refund", _("refund")
    DISPUTE = "dispute", _("dispute")
    DISPUTE_WON = "dispute_won", _("dispute won")
    FEE = "fee", _("fee")
    PAYOUT = "payout", _("payout")


class Transaction(models.Model):
    """One ledger row per Stripe balance movement. Append-only: corrections are new rows.

    Signs follow the charity's balance: gifts and won disputes positive; refunds, lost
    disputes, standalone fees and payouts negative. ``net = amount - fee``.
    """

    kind = models.CharField(max_length=12, choices=TransactionKind.choices)
    donation = models.ForeignKey(
        Donation, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    amount = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    net = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # The Stripe object this row records (charge, refund, dispute, payout, fee's balance txn).
    stripe_object = models.CharField(max_length=255)
    stripe_payment_intent = models.CharField(max_length=255, blank=True)
    stripe_charge = models.CharField(max_length=255, blank=True)
    stripe_balance_transaction = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_payout = models.CharField(max_length=255, blank=True, db_index=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_object", "kind"], name="ledger_once_per_object"
            ),
            models.CheckConstraint(
                condition=models.Q(net=models.F("amount") - models.F("fee")),
                name="ledger_net_is_amount_minus_fee",
            ),
        ]
        indexes = [
            models.Index(fields=["occurred_at"], name="ledger_occurred_idx"),
            # A donation's rows by payment intent (ledger.donation_transactions, on every
            # webhook event): without it each event scans the whole ledger.
            models.Index(
                fields=["stripe_payment_intent"],
                condition=~models.Q(stripe_payment_intent=""),
                name="ledger_payment_intent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{label(TransactionKind, self.kind)} {euros(self.amount)}"


class SyncCursor(models.Model):
    """Where the periodic reconcile left off in Stripe's event list."""

    name = models.CharField(max_length=50, unique=True)
    # Every event created up to this Unix time is in the inbox (moved when a run completes).
    stripe_created = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    # The run in progress (Stripe lists newest first, so a run walks back in time): it lists
    # events created after `run_since`, has stored every one down to the event `run_after`
    # (committed with each page) and found `run_newest` as the newest. NULL: no run open.
    run_since = models.BigIntegerField(null=True, blank=True)
    run_after = models.CharField(max_length=255, blank=True, default="")
    run_newest = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.stripe_created}"


class NoticeKind(models.TextChoices):
    THANKS = "thanks", _("thank you")
    PRE_DEBIT = "pre_debit", _("SEPA pre-debit notice")
    PAYMENT_FAILED = "payment_failed", _("payment failed")
    LAPSED = "lapsed", _("monthly gift lapsed")
    MANDATE_REVOKED = "mandate_revoked", _("mandate revoked")


class DonorNotice(models.Model):
    """A transactional email to a donor, recorded once per (kind, key) before it is sent.

    The unique key makes every notice exactly-once however often its trigger is delivered.
    """

    kind = models.CharField(max_length=20, choices=NoticeKind.choices)
    key = models.CharField(max_length=255, unique=True)
    donation = models.ForeignKey(Donation, null=True, blank=True, on_delete=models.CASCADE)
    recurring = models.ForeignKey(
        RecurringDonation, null=True, blank=True, on_delete=models.CASCADE
    )
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Failed sends: retried with backoff (donations.notices), the last error kept for staff.
    # (Defaults in the database too: notices are inserted with raw SQL, ON CONFLICT.)
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    last_error = models.TextField(blank=True, default="", db_default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("donor email")
        verbose_name_plural = _("donor emails")
        indexes = [
            # The senders' queue: only the unsent few, however many have been sent.
            models.Index(
                fields=["id"], condition=models.Q(sent_at__isnull=True), name="donornotice_unsent"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class PayoutLine(models.Model):
    """One balance transaction a Stripe payout settled, stored when Stripe reports the payout
    reconciled, so finance can reconcile (and export) a payout without calling Stripe."""

    payout = models.CharField(max_length=255, db_index=True)
    balance_transaction = models.CharField(max_length=255, unique=True)
    # Stripe's balance transaction type: charge, refund, adjustment, payout, stripe_fee, ...
    type = models.CharField(max_length=40)
    amount = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    net = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    source = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.payout} {self.type} {euros(self.net)}"


# --- Annual statements (jaaroverzicht) and ANBI periodic-gift agreements ----------------------


class StatementRunState(models.TextChoices):
    PREPARING = "preparing", _("preparing")
    SENDING = "sending", _("sending")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class StatementRun(models.Model):
    """One batch of annual statements for a year: prepared, then emailed in batches.

    ``done``/``total`` count the year's statements sent/held (a later run for the same year
    picks up where an earlier one stopped; each donor is emailed once per year whatever runs).
    """

    year = models.PositiveSmallIntegerField()
    state = models.CharField(
        max_length=10, choices=StatementRunState.choices, default=StatementRunState.PREPARING
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("annual statement run")
        constraints = [
            # A second click on "start" must not send a second batch alongside the first.
            models.UniqueConstraint(
                fields=["year"],
                condition=models.Q(state__in=["preparing", "sending"]),
                name="statement_run_one_active_per_year",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year} ({self.state}, {self.done}/{self.total})"


class AnnualStatement(models.Model):
    """One donor's statement of a year: the gifts the ledger received from their address.

    Unique per (year, address): whatever runs are started, a donor is emailed once a year.
    ``gifts`` and ``total`` are the figures when the row was prepared (the PDF is drawn from
    the ledger each time). Erasure blanks the address and puts the pseudonym in the name.
    """

    run = models.ForeignKey(StatementRun, on_delete=models.PROTECT, related_name="statements")
    year = models.PositiveSmallIntegerField()
    supporter = models.ForeignKey(
        "campaign.Supporter",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="annual_statements",
    )
    donor_email = models.EmailField(max_length=254, blank=True)  # lowercased
    donor_name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=2, default="nl")
    gifts = models.PositiveIntegerField(default=0)
    total = models.BigIntegerField(default=0, help_text=_("cents"))
    currency = models.CharField(max_length=3, default="eur")
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["year", "donor_email"]
        verbose_name = _("annual statement")
        constraints = [
            models.UniqueConstraint(
                fields=["year", "donor_email"],
                condition=~models.Q(donor_email=""),
                name="statement_once_per_donor_year",
            ),
        ]
        indexes = [
            models.Index(
                fields=["year"],
                name="statement_unsent_idx",
                condition=models.Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.year} {self.donor_name or self.donor_email}"


class AgreementState(models.TextChoices):
    DRAFT = "draft", _("awaiting signature")
    SIGNED = "signed", _("signed")
    CANCELLED = "cancelled", _("cancelled")


# The Belastingdienst's minimum term for a periodic gift (periodieke gift, art. 6.38 Wet IB).
AGREEMENT_MIN_TERM_YEARS = 5


class PeriodicGiftAgreement(models.Model):
    """An ANBI periodic-gift agreement (overeenkomst periodieke gift) for a monthly donor.

    The charity's name and RSIN, the mandate reference and the donor's details are snapshots:
    the signed paper must stay what it was, whatever changes later. The donor's BSN is never
    stored: the PDF leaves it for the donor to fill in by hand.
    """

    recurring = models.ForeignKey(
        RecurringDonation, on_delete=models.PROTECT, related_name="agreements"
    )
    transaction_number = models.CharField(max_length=32, unique=True)
    yearly_amount = models.PositiveIntegerField(help_text=_("cents a year"))
    currency = models.CharField(max_length=3, default="eur")
    start_year = models.PositiveSmallIntegerField()
    term_years = models.PositiveSmallIntegerField()
    state = models.CharField(
        max_length=10, choices=AgreementState.choices, default=AgreementState.DRAFT
    )
    charity_name = models.CharField(max_length=200)
    charity_rsin = models.CharField(max_length=9)
    mandate_reference = models.CharField(max_length=100, blank=True)
    donor_name = models.CharField(max_length=200)
    donor_email = models.EmailField(max_length=254, blank=True)
    donor_address = models.TextField(blank=True)
    donor_birth_date = models.DateField(null=True, blank=True)
    donor_birth_place = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=2, default="nl")
    signed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("periodic gift agreement")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(term_years__gte=AGREEMENT_MIN_TERM_YEARS),
                name="agreement_term_at_least_five_years",
            ),
            models.CheckConstraint(
                condition=models.Q(yearly_amount__gt=0), name="agreement_amount_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(state="signed") | models.Q(signed_at__isnull=False),
                name="agreement_signed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.transaction_number

    @property
    def end_year(self) -> int:
        """The last calendar year the agreement covers."""
        return self.start_year + self.term_years - 1


class DemoSeedStep(models.Model):
    """One step of the demo's seeded months (donations/demo_gifts.py) that is done: a run killed
    half-way is finished by the next one, which skips these. `result` is what later steps need
    from it (the gift's charge, the monthly gift's subscription, the dispute)."""

    key = models.CharField(max_length=200, unique=True)
    result = models.CharField(max_length=255, blank=True)
    done_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
