"""Bounces and complaints reported by the ESP (django-anymail's normalised tracking events)
feed the one suppression table; bounces are counted like SMTP ones (mailing/bounces.py)."""

from __future__ import annotations

from typing import Any

import structlog
from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking
from django.db import transaction

from campaign.selectors import supporter_by_email
from campaign.services import supporter_unsubscribe
from mailing import bounces, services
from mailing.models import Bounce, Enrollment, Suppression

log = structlog.get_logger(__name__)


def _permanent_bounce(event: AnymailTrackingEvent) -> bool:
    """Soft bounces and deferrals are retried by the ESP; only a definite "no such mailbox"
    (or an address the ESP already refuses) stops us mailing the address."""
    if event.event_type == EventType.BOUNCED:
        return event.reject_reason in {RejectReason.BOUNCED, RejectReason.INVALID}
    return event.event_type == EventType.REJECTED and event.reject_reason == RejectReason.INVALID


def _bounce_apply(event: AnymailTrackingEvent, address: str, esp_name: str) -> bool:
    """A bounce the ESP reports, through the same counting as SMTP replies and DSNs: the ESP's
    permanent verdict is a hard bounce; its soft bounces (final, not deferrals it retries
    itself) are counted and repetition suppresses (mailing/bounces.py)."""
    said = event.mta_response or event.description or ""
    if _permanent_bounce(event):
        verdict = bounces.Verdict(Bounce.Kind.HARD, bounces.enhanced_status(said))
    else:
        verdict = bounces.classify(None, said)
        if verdict.kind == Bounce.Kind.HARD:
            verdict = bounces.Verdict(Bounce.Kind.PERMANENT, verdict.status)
    recorded = bounces.bounce_record(
        address=address, verdict=verdict, source=esp_name[:20], detail=event.description or said
    )
    return recorded.suppressed


def esp_event_apply(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    address = event.recipient or ""
    if not address:
        return
    if event.event_type in (EventType.BOUNCED, EventType.REJECTED):
        suppressed = _bounce_apply(event, address, esp_name)
        log.info("mailing.esp_event", esp=esp_name, type=event.event_type, suppressed=suppressed)
        return
    if event.event_type != EventType.COMPLAINED:
        return
    with transaction.atomic():
        created = services.suppression_add(
            address=address,
            reason=Suppression.Reason.COMPLAINT,
            detail=f"{esp_name}: {event.description or ''}",
        )
        supporter = supporter_by_email(address)
        if supporter is not None:
            services.enrollments_exit(
                supporter_id=supporter.pk, reason=Enrollment.ExitReason.UNSUBSCRIBED
            )
            # "This is spam" is the clearest withdrawal of consent there is.
            supporter_unsubscribe(supporter_id=supporter.pk, method="complaint", actor="supporter")
    log.info("mailing.esp_event", esp=esp_name, type=event.event_type, suppressed=created)


def connect() -> None:
    tracking.connect(esp_event_apply, dispatch_uid="mailing.esp_event_apply")
