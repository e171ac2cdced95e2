"""Reads: who a segment holds, who may receive a message, progress of a send."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    Func,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from campaign.models import Consent, Supporter
from mailing.models import (
    Delivery,
    Enrollment,
    GiftAttribution,
    Mailing,
    Message,
    Suppression,
)
from mailing.segments import SegmentFilter


def email_hash(address: str) -> str:
    """The key of the suppression table; EmailHash computes the same in SQL."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


class EmailHash(Func):
    """sha256 of the lower-cased address, hex: the SQL twin of email_hash()."""

    template = "encode(sha256(convert_to(lower(%(expressions)s), 'UTF8')), 'hex')"
    arity = 1


def _consent(topic: str) -> Exists:
    return Exists(
        Consent.objects.filter(
            supporter_id=OuterRef("pk"),
            topic=topic,
            confirmed_at__isnull=False,
            withdrawn_at__isnull=True,
        )
    )


def _suppressed() -> Exists:
    return Exists(Suppression.objects.filter(email_hash=EmailHash(OuterRef("email"))))


def _local_midnight(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def segment_supporters(segment: SegmentFilter) -> QuerySet[Supporter]:
    """The supporters a segment holds (before consent for the message's topic is applied)."""
    qs = Supporter.objects.filter(erased_at__isnull=True, email__isnull=False)
    if segment.languages:
        qs = qs.filter(language__in=segment.languages)
    for topic in segment.topics:
        qs = qs.filter(_consent(topic))
    if segment.signed_up_from:
        qs = qs.filter(created_at__gte=_local_midnight(segment.signed_up_from))
    if segment.signed_up_until:
        # Inclusive: up to the end of that local day.
        qs = qs.filter(created_at__lt=_local_midnight(segment.signed_up_until) + timedelta(days=1))
    if segment.sources:
        qs = qs.filter(utm_source__in=segment.sources)
    if segment.donor_status:
        gifts = GiftAttribution.objects.filter(supporter_id=OuterRef("pk"))
        donor = Q()
        for status in segment.donor_status:
            gave = Exists(gifts) if status == "never" else Exists(gifts.filter(frequency=status))
            donor |= Q(~gave if status == "never" else gave)
        qs = qs.filter(donor)
    return qs


def recipients(*, segment: SegmentFilter, topic: str) -> QuerySet[Supporter]:
    """Who gets a message now: the segment, with consent for its topic, minus suppressions."""
    return segment_supporters(segment).filter(_consent(topic)).exclude(_suppressed())


def recipients_among(*, supporter_ids: Iterable[int], topic: str) -> QuerySet[Supporter]:
    return recipients(segment=SegmentFilter(), topic=topic).filter(pk__in=list(supporter_ids))


def suppressed_hashes(hashes: Iterable[str]) -> set[str]:
    return set(
        Suppression.objects.filter(email_hash__in=list(hashes)).values_list("email_hash", flat=True)
    )


def mailing_progress(mailing_id: int) -> dict[str, int]:
    """Rows per state (queued, sending, sent, failed, skipped) across its message versions."""
    counts = dict.fromkeys(Delivery.State.values, 0)
    rows = (
        Delivery.objects.filter(message__mailing_id=mailing_id)
        .values("state")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["state"]] = row["n"]
    return counts


def mailing_skip_reasons(mailing_id: int) -> dict[str, int]:
    rows = (
        Delivery.objects.filter(message__mailing_id=mailing_id, state=Delivery.State.SKIPPED)
        .values("reason")
        .annotate(n=Count("id"))
    )
    return {row["reason"]: row["n"] for row in rows}


def mailings_due(now: datetime) -> QuerySet[Mailing]:
    return Mailing.objects.filter(state=Mailing.State.SCHEDULED, send_at__lte=now)


# The last_error of rows put back because the mail server did not answer (sending.py).
NO_REPLY = "no reply: "


def rows_held_up(now: datetime) -> dict[str, dict[str, int]]:
    """What a fault holds up, in staff's terms, for /healthz: rows backing off because the mail
    server did not answer, and rows of dead batches the sweeper has yet to take back, counted
    per "mailing 12" or "sequence step 3". Empty when nothing is held up."""
    stale = now - timedelta(seconds=settings.MAILING_SENDING_TIMEOUT_SECONDS)
    held = {
        "mail server": Delivery.objects.filter(
            state=Delivery.State.QUEUED, next_attempt_at__gt=now, last_error__startswith=NO_REPLY
        ),
        "dead batches": Delivery.objects.filter(state=Delivery.State.SENDING, claimed_at__lt=stale),
    }
    found: dict[str, dict[str, int]] = {}
    for what, rows in held.items():
        counts = rows.values("message_id").annotate(n=Count("id"))
        per_message = {row["message_id"]: row["n"] for row in counts}
        if not per_message:
            continue
        owners = Message.objects.filter(pk__in=per_message).values_list(
            "pk", "mailing_id", "step_id"
        )
        found[what] = {}
        for pk, mailing_id, step_id in owners:
            label = f"mailing {mailing_id}" if mailing_id else f"sequence step {step_id}"
            found[what][label] = found[what].get(label, 0) + per_message[pk]
    return found


# Exits that stop queued step emails at send time ("completed" does not: the last step's row
# is created in the same tick that completes the enrolment).
STOPPING_EXITS = (
    Enrollment.ExitReason.GIFT,
    Enrollment.ExitReason.UNSUBSCRIBED,
    Enrollment.ExitReason.BOUNCED,
    Enrollment.ExitReason.ERASED,
    Enrollment.ExitReason.STAFF,
)
# Not a skip: the row goes back to the queue (its mailing was paused, by staff or by the
# complaint rate; a resume sends it).
MAILING_HALTED = "mailing_halted"


def deliveries_no_longer_sendable(delivery_ids: Iterable[int]) -> dict[int, str]:
    """Of these claimed rows, those that must not go out any more, with why: their mailing was
    paused (MAILING_HALTED) or cancelled, their supporter lost consent for the message's topic
    (or was erased, or lost the address), their address was suppressed, or they left the
    sequence (a gift ending a drip, an unsubscribe, a bounce, staff) since the batch started.
    One query, run at a batch's heartbeat, so a change stops a running batch within seconds
    (invariant 4)."""
    consent = Consent.objects.filter(
        supporter_id=OuterRef("supporter_id"),
        topic=OuterRef("message__topic"),
        confirmed_at__isnull=False,
        withdrawn_at__isnull=True,
    )
    suppressed = Suppression.objects.filter(email_hash=EmailHash(OuterRef("supporter__email")))
    in_sequence = Enrollment.objects.filter(
        sequence_id=OuterRef("message__step__sequence_id"), supporter_id=OuterRef("supporter_id")
    )
    # Left it for a stopping reason and not enrolled again since.
    left_sequence = Q(Exists(in_sequence.filter(exit_reason__in=STOPPING_EXITS))) & ~Q(
        Exists(in_sequence.filter(exited_at__isnull=True))
    )
    halted = Q(message__mailing__isnull=False) & ~Q(message__mailing__state=Mailing.State.SENDING)
    rows = (
        Delivery.objects.filter(pk__in=list(delivery_ids))
        .annotate(
            consented=Exists(consent),
            suppressed=Exists(suppressed),
            left=ExpressionWrapper(
                Q(message__step__isnull=False) & left_sequence, output_field=BooleanField()
            ),
            halted=ExpressionWrapper(halted, output_field=BooleanField()),
        )
        .filter(
            Q(halted=True)
            | Q(consented=False)
            | Q(suppressed=True)
            | Q(left=True)
            | Q(supporter__erased_at__isnull=False)
            | Q(supporter__email__isnull=True)
        )
        .values_list("id", "halted", "message__mailing__state", "suppressed", "consented", "left")
    )
    found: dict[int, str] = {}
    for pk, is_halted, mailing_state, is_suppressed, consented, left in rows:
        if is_halted:
            cancelled = mailing_state == Mailing.State.CANCELLED
            found[pk] = Delivery.Reason.CANCELLED if cancelled else MAILING_HALTED
        elif is_suppressed:
            found[pk] = Delivery.Reason.SUPPRESSED
        elif consented and left:
            found[pk] = Delivery.Reason.EXITED
        else:
            found[pk] = Delivery.Reason.NO_CONSENT
    return found
