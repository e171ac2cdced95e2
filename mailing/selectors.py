"""Reads: who a segment holds, who may receive a message, progress of a send."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, Func, OuterRef, Q, QuerySet
from django.utils import timezone

from campaign.models import Consent, Supporter
from mailing.models import Delivery, GiftAttribution, Mailing, Message, Suppression
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


def deliveries_no_longer_sendable(delivery_ids: Iterable[int]) -> dict[int, str]:
    """Of these claimed rows, those whose supporter lost consent for the message's topic (or was
    erased, or lost the address) or whose address was suppressed since the batch started, with
    the skip reason. One query, run at a batch's heartbeat, so an unsubscribe stops a running
    batch within seconds (invariant 4)."""
    consent = Consent.objects.filter(
        supporter_id=OuterRef("supporter_id"),
        topic=OuterRef("message__topic"),
        confirmed_at__isnull=False,
        withdrawn_at__isnull=True,
    )
    suppressed = Suppression.objects.filter(email_hash=EmailHash(OuterRef("supporter__email")))
    rows = (
        Delivery.objects.filter(pk__in=list(delivery_ids))
        .annotate(consented=Exists(consent), suppressed=Exists(suppressed))
        .filter(
            Q(consented=False)
            | Q(suppressed=True)
            | Q(supporter__erased_at__isnull=False)
            | Q(supporter__email__isnull=True)
        )
        .values_list("id", "suppressed")
    )
    return {
        pk: Delivery.Reason.SUPPRESSED if is_suppressed else Delivery.Reason.NO_CONSENT
        for pk, is_suppressed in rows
    }
