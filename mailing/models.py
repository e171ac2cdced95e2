"""Sequences, mailings, segments, the send ledger and suppressions (issue #5).

PostgreSQL is the truth for every send: a `Delivery` row exists for each (message, supporter)
before anything is published to Celery, and its state says what happened. Redis only carries
wake-ups (batches of ledger ids) and can be flushed at any time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from campaign.models import Language, Story, Supporter, Topic
from mailing.segments import SegmentFilter


class Sequence(models.Model):
    """Ordered story emails that start on a trigger and end on exit conditions."""

    class Trigger(models.TextChoices):
        CONFIRMED = "confirmed", _("sign-up confirmed")
        FIRST_GIFT = "first_gift", _("first gift")
        MANUAL = "manual", _("staff enrol a segment")

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(unique=True)
    trigger = models.CharField(_("starts on"), max_length=20, choices=Trigger.choices)
    topic = models.CharField(
        _("consent topic"), max_length=20, choices=Topic.choices, default=Topic.STORIES
    )
    # An appeal sequence stops the moment the person gives (checked again at send time).
    ends_on_gift = models.BooleanField(_("ends when the supporter gives"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("sequence")
        verbose_name_plural = _("sequences")

    def __str__(self) -> str:
        return self.name


class LocalizedContent(models.Model):
    """Subject and preheader in Dutch and English; English falls back to Dutch."""

    subject_nl = models.CharField(_("subject (Dutch)"), max_length=200)
    subject_en = models.CharField(_("subject (English)"), max_length=200, blank=True)
    # Optional second subject for an A/B test: half of the recipients get it.
    subject_b_nl = models.CharField(_("subject B (Dutch)"), max_length=200, blank=True)
    subject_b_en = models.CharField(_("subject B (English)"), max_length=200, blank=True)
    preheader_nl = models.CharField(_("preheader (Dutch)"), max_length=200, blank=True)
    preheader_en = models.CharField(_("preheader (English)"), max_length=200, blank=True)

    class Meta:
        abstract = True

    def localized(self, field: str, language: str) -> str:
        value = getattr(self, f"{field}_{language}", "") if language != "nl" else ""
        return str(value or getattr(self, f"{field}_nl"))


class SequenceStep(LocalizedContent):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"))
    # Wait after the previous step (after enrolment for the first step).
    delay = models.DurationField(_("delay"), default=timedelta(0))
    story = models.ForeignKey(Story, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="step_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.sequence} #{self.position}"


class Enrollment(models.Model):
    """A supporter walking through a sequence; `due_at` is when the next step falls due."""

    class ExitReason(models.TextChoices):
        COMPLETED = "completed", _("all steps sent")
        GIFT = "gift", _("gave")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        BOUNCED = "bounced", _("address bounced")
        ERASED = "erased", _("erased")
        STAFF = "staff", _("removed by staff")

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="+")
    next_position = models.PositiveSmallIntegerField(default=1)
    due_at = models.DateTimeField(null=True, blank=True)
    enrolled_at = models.DateTimeField(auto_now_add=True)
    exited_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=20, choices=ExitReason.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "supporter"],
                condition=models.Q(exited_at__isnull=True),
                name="enrollment_one_open",
            )
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=models.Q(exited_at__isnull=True),
                name="enrollment_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"enrollment #{self.pk}"


class Segment(models.Model):
    """A saved filter over supporters, evaluated in SQL (mailing/segments.py)."""

    name = models.CharField(_("name"), max_length=200)
    filter = models.JSONField(_("filter"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            SegmentFilter.from_json(self.filter)
        except ValueError as exc:
            raise ValidationError({"filter": str(exc)}) from exc

    @property
    def parsed(self) -> SegmentFilter:
        return SegmentFilter.from_json(self.filter)


class Mailing(LocalizedContent):
    """A one-off email to a segment at a time in Europe/Amsterdam."""

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        SENDING = "sending", _("sending")
        PAUSED = "paused", _("paused")
        CANCELLED = "cancelled", _("cancelled")
        FINISHED = "finished", _("finished")

    class StopReason(models.TextChoices):
        COMPLAINTS = "complaints", _("spam complaint rate too high")

    name = models.CharField(_("name"), max_length=200)
    topic = models.CharField(
        _("consent topic"), max_length=20, choices=Topic.choices, default=Topic.STORIES
    )
    # Content: a story, or free Markdown content per language (Dutch is required then).
    story = models.ForeignKey(Story, on_delete=models.PROTECT, null=True, blank=True)
    title_nl = models.CharField(_("title (Dutch)"), max_length=200, blank=True)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    body_nl = models.TextField(_("content (Dutch, Markdown)"), blank=True)
    body_en = models.TextField(_("content (English, Markdown)"), blank=True)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, null=True, blank=True)
    # An aware instant; staff pick a local Europe/Amsterdam time (mailing_schedule resolves it).
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    # The sunset rule (mailing/engagement.py) leaves out people who have shown no sign of life in
    # MAILING_SUNSET_DAYS; a re-engagement mailing includes them on purpose.
    include_sunset = models.BooleanField(
        _("include people the sunset rule leaves out"),
        default=False,
        help_text=_(
            "For a re-engagement mailing: also send to people who have not clicked, "
            "given, confirmed or changed their preferences for a long time."
        ),
    )
    # Why it is paused, when the system paused it (mailing/complaints.py): staff see it, and
    # only a deliberate resume that waives the stop sends the rest.
    stopped_reason = models.CharField(
        max_length=20, choices=StopReason.choices, blank=True, default=""
    )
    stopped_detail = models.CharField(max_length=300, blank=True, default="")
    # Staff resumed it knowing the complaint rate: the automatic stop does not fire again.
    complaint_stop_waived = models.BooleanField(default=False)
    # Set once the ledger rows exist, so a resume after a pause never fans out again.
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["send_at"],
                condition=models.Q(state="scheduled"),
                name="mailing_due_idx",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """One frozen version of the content of a mailing or a sequence step.

    The ledger points here, so a version is never edited once rows exist: edits make a new one.
    `content` holds everything rendering needs per language (see services.message_snapshot).
    """

    mailing = models.ForeignKey(
        Mailing, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    step = models.ForeignKey(
        SequenceStep, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    version = models.PositiveIntegerField(default=1)
    topic = models.CharField(max_length=20, choices=Topic.choices)
    story = models.ForeignKey(Story, on_delete=models.PROTECT, null=True, blank=True)
    content = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mailing__isnull=True) ^ models.Q(step__isnull=True),
                name="message_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"message #{self.pk} v{self.version}"


class Delivery(models.Model):
    """The send ledger: one row per (message, supporter).

    queued -> sending -> sent | failed | skipped. Every column the bulk fan-out does not name has
    a database default, so `INSERT ... SELECT` fills them without Python.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    class Reason(models.TextChoices):
        NO_CONSENT = "no_consent", _("no consent at send time")
        SUPPRESSED = "suppressed", _("address suppressed")
        EXITED = "exited", _("left the sequence")
        CANCELLED = "cancelled", _("mailing cancelled")
        NO_ADDRESS = "no_address", _("no address")
        HARD_BOUNCE = "hard_bounce", _("hard bounce")
        REJECTED = "rejected", _("rejected by the server")
        GAVE_UP = "gave_up", _("too many temporary failures")
        WORKER_LOST = "worker_lost", _("its worker died too often while sending it")
        SUNSET = "sunset", _("no sign of life for a long time (sunset rule)")

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (message, supporter) index serves lookups by message, and
    # a second index would be written on every fan-out insert and every claim and mark.
    message = models.ForeignKey(
        Message, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.QUEUED, db_default=State.QUEUED
    )
    reason = models.CharField(
        max_length=20, choices=Reason.choices, blank=True, default="", db_default=""
    )
    # Attempts that reached a server reply (sent, 4xx, 5xx): a refused or lost connection and a
    # paused mailing put the row back without spending one.
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    # Times the batch holding this row died (its claim went stale and the sweeper took it back):
    # a message that kills its worker every time must not loop for ever.
    orphaned = models.PositiveSmallIntegerField(default=0, db_default=0)
    last_error = models.CharField(max_length=500, blank=True, default="", db_default="")
    variant = models.CharField(max_length=1, blank=True, default="", db_default="")
    smtp_message_id = models.CharField(max_length=200, blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_default=Now())
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["message", "supporter"], name="delivery_once"),
        ]
        indexes = [
            # A message's queued rows: whether a mailing is finished, pausing or cancelling it.
            models.Index(
                fields=["message", "id"],
                condition=models.Q(state="queued"),
                name="delivery_queued_idx",
            ),
            # The dispatcher's two looks (services.dispatch_sql): rows never published, in id
            # order, and rows published long ago and still queued (their task was lost). Without
            # them each tick read every queued row of a mailing to find the few to publish:
            # 0.1-0.25 s of PostgreSQL a tick with a million queued.
            models.Index(
                fields=["id"],
                condition=models.Q(state="queued", dispatched_at__isnull=True),
                name="delivery_unpublished_idx",
            ),
            models.Index(
                fields=["dispatched_at"],
                condition=models.Q(state="queued", dispatched_at__isnull=False),
                name="delivery_published_idx",
            ),
            # The sweeper's scan.
            models.Index(
                fields=["claimed_at"],
                condition=models.Q(state="sending"),
                name="delivery_sending_idx",
            ),
            # Rows backing off (a 4xx, a mail server that did not answer): few, and /healthz
            # counts them while a fault lasts (selectors.rows_held_up).
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="queued", next_attempt_at__isnull=False),
                name="delivery_backoff_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk} ({self.state})"


class Suppression(models.Model):
    """An address we never send to. Keyed by the SHA-256 of the lower-cased address, so it
    holds no personal data and survives erasure (the fan-out compares hashes in SQL)."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("hard bounce")
        COMPLAINT = "complaint", _("spam complaint")
        MANUAL = "manual", _("added by staff")
        REPEATED_FAILURES = "repeated_failures", _("repeated delivery failures")

    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"suppression #{self.pk} ({self.reason})"


class Bounce(models.Model):
    """A delivery failure told by the server's reply, a DSN or the ESP (mailing/bounces.py):
    counted per address over a window, so repeated failures suppress. Keyed by the address's
    hash, like Suppression: no personal data, and it survives erasure."""

    class Kind(models.TextChoices):
        HARD = "hard", _("address does not exist")
        PERMANENT = "permanent", _("other permanent failure")
        SOFT = "soft", _("temporary failure")

    email_hash = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The enhanced status code (RFC 3463) when one was given, e.g. 5.1.1.
    status = models.CharField(max_length=12, blank=True)
    # Where it was learnt: "smtp" (the reply while sending), "dsn", or the ESP's name.
    source = models.CharField(max_length=20)
    detail = models.CharField(max_length=500, blank=True)
    delivery = models.ForeignKey(
        Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A DSN told twice (or the reply and then the DSN) counts once per message.
            models.UniqueConstraint(
                fields=["delivery", "kind"],
                condition=models.Q(delivery__isnull=False),
                name="bounce_once_per_delivery",
            ),
        ]
        indexes = [models.Index(fields=["email_hash", "created_at"], name="bounce_address_idx")]

    def __str__(self) -> str:
        return f"{self.kind} bounce #{self.pk}"


class Complaint(models.Model):
    """Someone marked one of our emails as spam: an ESP's complaint event or a mailbox
    provider's feedback-loop report (ARF, RFC 5965). Counted per delivery, so a mailing's
    complaint rate is its own (mailing/complaints.py); keyed by the address's hash like
    Suppression, so it holds no personal data and survives erasure."""

    email_hash = models.CharField(max_length=64)
    delivery = models.ForeignKey(
        Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Where it was learnt: "arf" (a feedback-loop report) or the ESP's name.
    source = models.CharField(max_length=20)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A report told twice (an ESP retrying its webhook, a repeated ARF) counts once.
            models.UniqueConstraint(
                fields=["delivery"],
                condition=models.Q(delivery__isnull=False),
                name="complaint_once_per_delivery",
            ),
        ]

    def __str__(self) -> str:
        return f"complaint #{self.pk}"


class GiftAttribution(models.Model):
    """A gift credited to the email that brought it (signed source token), for reports; also
    the mailing side's record of who gave, for donor-status segments. The amount is as the
    donation_succeeded event told it; refunds and disputes are GiftReversal rows. The ledger in
    donations/ stays the books' truth: these are mailing's copy for its own reports."""

    donation_id = models.BigIntegerField(unique=True)
    amount = models.PositiveIntegerField(default=0)  # cents, in `currency`
    currency = models.CharField(max_length=3, default="eur")
    supporter = models.ForeignKey(
        Supporter, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    frequency = models.CharField(max_length=10, blank=True)
    delivery = models.ForeignKey(
        Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"gift {self.donation_id}"


class GiftReversal(models.Model):
    """Money a gift lost after it was given (a refund, a dispute) or got back (a dispute won),
    from the donation_reversed event: one row per ledger movement, however often it is told.
    Joined to GiftAttribution on donation_id, so one that arrives before the gift still counts."""

    donation_id = models.BigIntegerField()
    # The ledger movement's Stripe id (re_..., or the dispute's balance transaction txn_...).
    reversal = models.CharField(max_length=255)
    kind = models.CharField(max_length=20)
    # Cents the gift lost: negative when a won dispute brought them back.
    amount = models.IntegerField()
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reversal", "kind"], name="gift_reversal_once"),
        ]
        indexes = [models.Index(fields=["donation_id"], name="gift_reversal_donation_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.reversal} of gift {self.donation_id}"


class Click(models.Model):
    """A person followed a tracked link in an email (mailing/tracking.py): once per delivery and
    link. HEAD requests and link scanners are redirected too but never recorded here."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="clicks")
    # The link's place in its message version's link table (rendering.Parts.links).
    link = models.PositiveSmallIntegerField()
    url = models.CharField(max_length=2000)
    clicked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delivery", "link"], name="click_once_per_link"),
        ]

    def __str__(self) -> str:
        return f"click on link {self.link} of delivery #{self.delivery_id}"


LANGUAGES: tuple[str, ...] = tuple(Language.values)


def localized_dict(obj: Any, field: str) -> dict[str, str]:
    return {language: obj.localized(field, language) for language in LANGUAGES}
