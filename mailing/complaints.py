"""Spam complaints, wherever they are learnt (an ESP's `complained` event, a mailbox provider's
feedback-loop report): the address is suppressed and unsubscribed, the complaint is counted
against the email it was about, and a mailing whose complaint rate passes
MAILING_COMPLAINT_STOP_RATE is stopped (paused with a reason staff see) before it harms the
sender's reputation further. Gmail and Yahoo's bulk-sender rules ask to stay under 0.1% and
never reach 0.3%: https://support.google.com/a/answer/81126 (the 0.3% is their hard limit).

The rate is complaints / delivered (accepted and not hard-bounced), and is judged only once
MAILING_COMPLAINT_MIN_DELIVERED messages are delivered: on the first few hundred one complaint
is noise, not a rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaign.selectors import supporter_by_email
from campaign.services import supporter_unsubscribe
from mailing import services
from mailing.models import Bounce, Complaint, Delivery, Enrollment, Mailing, Suppression
from mailing.selectors import email_hash

log = structlog.get_logger(__name__)

# A report that names no message is credited to the last email its address was sent within
# this long (a feedback loop reports within hours or days of the send).
_MATCH_BY_ADDRESS = timedelta(days=7)


@dataclass(frozen=True)
class ComplaintRate:
    complaints: int
    delivered: int

    @property
    def rate(self) -> float:
        return self.complaints / self.delivered if self.delivered else 0.0

    @property
    def judged(self) -> bool:
        """Enough delivered for the rate to mean something."""
        return self.delivered >= settings.MAILING_COMPLAINT_MIN_DELIVERED

    @property
    def warning(self) -> bool:
        return self.judged and self.rate > settings.MAILING_COMPLAINT_WARN_RATE

    @property
    def too_high(self) -> bool:
        return self.judged and self.rate > settings.MAILING_COMPLAINT_STOP_RATE

    def describe(self) -> str:
        return f"{self.rate:.2%} ({self.complaints} of {self.delivered} delivered)"


def mailing_complaint_rate(mailing_id: int) -> ComplaintRate:
    """Complaints about a mailing's emails over its delivered ones (sent minus hard bounces)."""
    of_mailing = {"delivery__message__mailing_id": mailing_id}
    sent = Delivery.objects.filter(
        message__mailing_id=mailing_id, state=Delivery.State.SENT
    ).count()
    bounced = Bounce.objects.filter(kind=Bounce.Kind.HARD, **of_mailing).count()
    complaints = Complaint.objects.filter(**of_mailing).count()
    return ComplaintRate(complaints=complaints, delivered=max(sent - bounced, 0))


@dataclass(frozen=True)
class Recorded:
    counted: bool  # False: this email's complaint was already counted (a repeated report)
    delivery_id: int | None
    mailing_stopped: bool


def _delivery_by_address(address: str) -> int | None:
    supporter = supporter_by_email(address)
    if supporter is None:
        return None
    since = timezone.now() - _MATCH_BY_ADDRESS
    return (
        Delivery.objects.filter(supporter=supporter, state=Delivery.State.SENT, sent_at__gte=since)
        .order_by("-sent_at")
        .values_list("pk", flat=True)
        .first()
    )


def complaint_record(
    *, address: str, delivery_id: int | None, source: str, detail: str = ""
) -> Recorded:
    """One person called one email spam. `delivery_id` is the ledger row the report names (VERP,
    Message-ID, the ESP's metadata); without it, the address's last email. `address` may be
    empty when the delivery is known (feedback loops often redact the recipient)."""
    delivery = (
        Delivery.objects.filter(pk=delivery_id).select_related("supporter", "message").first()
        if delivery_id is not None
        else None
    )
    if delivery is not None and delivery.supporter.email:
        address = delivery.supporter.email  # the ledger knows whom it was for
    if delivery is None and address:
        found = _delivery_by_address(address)
        delivery = (
            Delivery.objects.select_related("supporter", "message").get(pk=found)
            if found is not None
            else None
        )
    if not address and delivery is None:
        log.info("mailing.complaint_unmatched", source=source)
        return Recorded(counted=False, delivery_id=None, mailing_stopped=False)
    with transaction.atomic():
        if address:
            _withdraw(address, source=source, detail=detail)
        try:
            with transaction.atomic():
                Complaint.objects.create(
                    email_hash=email_hash(address) if address else "",
                    delivery=delivery,
                    source=source[:20],
                    detail=detail[:500],
                )
        except IntegrityError:  # this email's complaint was told before
            return Recorded(
                counted=False, delivery_id=delivery.pk if delivery else None, mailing_stopped=False
            )
    mailing_id = delivery.message.mailing_id if delivery is not None else None
    stopped = mailing_id is not None and mailing_stop_if_complained(mailing_id=mailing_id)
    log.info(
        "mailing.complaint",
        source=source,
        delivery=delivery.pk if delivery else None,
        mailing=mailing_id,
        stopped=stopped,
    )
    return Recorded(
        counted=True, delivery_id=delivery.pk if delivery else None, mailing_stopped=stopped
    )


def _withdraw(address: str, *, source: str, detail: str) -> None:
    """ "This is spam" is the clearest withdrawal of consent there is: never mailed again."""
    services.suppression_add(
        address=address, reason=Suppression.Reason.COMPLAINT, detail=f"{source}: {detail}"
    )
    supporter = supporter_by_email(address)
    if supporter is not None:
        services.enrollments_exit(
            supporter_id=supporter.pk, reason=Enrollment.ExitReason.UNSUBSCRIBED
        )
        supporter_unsubscribe(supporter_id=supporter.pk, method="complaint", actor="supporter")


def mailing_stop_if_complained(*, mailing_id: int) -> bool:
    """Pause a sending (or scheduled) mailing whose complaint rate is above the stop rate, with
    the reason staff see; True when this call stopped it. Running batches put their unsent rows
    back at their next heartbeat (sending.py), so the send stops within seconds."""
    rate = mailing_complaint_rate(mailing_id)
    if not rate.too_high:
        return False
    with transaction.atomic():
        mailing = Mailing.objects.select_for_update().get(pk=mailing_id)
        if mailing.complaint_stop_waived or mailing.state not in (
            Mailing.State.SENDING,
            Mailing.State.SCHEDULED,
        ):
            return False
        mailing.state = Mailing.State.PAUSED
        mailing.stopped_reason = Mailing.StopReason.COMPLAINTS
        mailing.stopped_detail = (
            f"complaint rate {rate.describe()} above {settings.MAILING_COMPLAINT_STOP_RATE:.1%}"
        )[:300]
        mailing.save(update_fields=["state", "stopped_reason", "stopped_detail"])
    log.warning(
        "mailing.stopped_for_complaints",
        mailing_id=mailing_id,
        complaints=rate.complaints,
        delivered=rate.delivered,
        rate=round(rate.rate, 5),
    )
    return True
