"""Bounces and complaints reported by the ESP (django-anymail's normalised tracking events)
feed the one suppression table; a repeated event changes nothing."""

from __future__ import annotations

from typing import Any

import structlog
from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking
from django.db import transaction

from campaign.selectors import supporter_by_email
from campaign.services import supporter_unsubscribe
from mailing import services
from mailing.models import Enrollment, Suppression

log = structlog.get_logger(__name__)


def _permanent_bounce(event: AnymailTrackingEvent) -> bool:
    """Soft bounces and deferrals are retried by the ESP; only a definite "no such mailbox"
    (or an address the ESP already refuses) stops us mailing the address."""
    if event.event_type == EventType.BOUNCED:
        return event.reject_reason in {RejectReason.BOUNCED, RejectReason.INVALID}
    return event.event_type == EventType.REJECTED and event.reject_reason == RejectReason.INVALID


def esp_event_apply(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    address = event.recipient or ""
    if not address:
        return
    if event.event_type == EventType.COMPLAINED:
        reason, exit_reason = Suppression.Reason.COMPLAINT, Enrollment.ExitReason.UNSUBSCRIBED
    elif _permanent_bounce(event):
        reason, exit_reason = Suppression.Reason.HARD_BOUNCE, Enrollment.ExitReason.BOUNCED
    else:
        return
    with transaction.atomic():
        created = services.suppression_add(
            address=address, reason=reason, detail=f"{esp_name}: {event.description or ''}"
        )
        supporter = supporter_by_email(address)
        if supporter is not None:
            services.enrollments_exit(supporter_id=supporter.pk, reason=exit_reason)
            if reason == Suppression.Reason.COMPLAINT:
                # "This is spam" is the clearest withdrawal of consent there is.
                supporter_unsubscribe(
                    supporter_id=supporter.pk, method="complaint", actor="supporter"
                )
    log.info("mailing.esp_event", esp=esp_name, type=event.event_type, suppressed=created)


def connect() -> None:
    tracking.connect(esp_event_apply, dispatch_uid="mailing.esp_event_apply")
