"""Gifts, recurring gifts, the Stripe webhook inbox and the append-only ledger.

Amounts are integer minor units (cents) with an ISO currency; never floats.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


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
    PAID = "paid", _("paid")
    PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")
    REFUNDED = "refunded", _("refunded")
    DISPUTED = "disputed", _("disputed")


STATUS_RANK = {
    DonationStatus.PENDING: 0,
    DonationStatus.PROCESSING: 1,
    DonationStatus.FAILED: 2,
    DonationStatus.PAID: 3,
    DonationStatus.PARTIALLY_REFUNDED: 4,
    DonationStatus.REFUNDED: 5,
    DonationStatus.DISPUTED: 6,
}


class Donation(models.Model):
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
        return f"{self.amount / 100:.2f} {self.currency.upper()} ({self.frequency}, {self.status})"


class RecurringState(models.TextChoices):
    PENDING = "pending", _("pending")
    ACTIVE = "active", _("active")
    PAUSED = "paused", _("paused")
    PAST_DUE = "past_due", _("past due")
    CANCELLED = "cancelled", _("cancelled")
    LAPSED = "lapsed", _("lapsed")


class RecurringDonation(models.Model):
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
        return f"{self.amount / 100:.2f} {self.currency.upper()} monthly ({self.state})"


class EventStatus(models.TextChoices):
    RECEIVED = "received", _("received")
    PROCESSED = "processed", _("processed")
    IGNORED = "ignored", _("ignored")
    FAILED = "failed", _("failed")


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

    class Meta:
        indexes = [
            # The drain's work queue: only events still waiting are indexed.
            models.Index(
                fields=["received_at"],
                name="stripeevent_waiting_idx",
                condition=models.Q(status__in=["received", "failed"]),
            )
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
        indexes = [models.Index(fields=["occurred_at"], name="ledger_occurred_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount / 100:.2f} {self.currency.upper()}"


class SyncCursor(models.Model):
    """Where the periodic reconcile left off in Stripe's event list."""

    name = models.CharField(max_length=50, unique=True)
    stripe_created = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

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
        return f"{self.payout} {self.type} {self.net / 100:.2f} {self.currency.upper()}"
