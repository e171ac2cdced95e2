"""Bounces and complaints reported by the ESP (django-anymail's normalised tracking events)
feed the one suppression table; bounces are counted like SMTP ones (mailing/bounces.py)."""

from __future__ import annotations

from typing import Any

import structlog
from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking

from mailing import bounces, complaints
from mailing.models import Bounce, Delivery

log = structlog.get_logger(__name__)


def _permanent_bounce(event: AnymailTrackingEvent) -> bool:
    """Soft bounces and deferrals are retried by the ESP; only a definite "no such mailbox"
    (or an address the ESP already refuses) stops us mailing the address."""
    if event.event_type == EventType.BOUNCED:
        return event.reject_reason in {RejectReason.BOUNCED, RejectReason.INVALID}
    return event.event_type == EventType.REJECTED and event.reject_reason == RejectReason.INVALID


def _delivery_id(event: AnymailTrackingEvent) -> int | None:
    """The ledger row the event is about: the ESP echoes the metadata we sent with each
    recipient (mailing/esp.py: {"delivery": id}). The webhook is authenticated, so it is ours."""
    value = (event.metadata or {}).get("delivery")
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _bounce_apply(event: AnymailTrackingEvent, address: str, esp_name: str) -> bool:
    """A bounce the ESP reports, through the same counting as SMTP replies and DSNs: the ESP's
    permanent verdict is a hard bounce; its soft bounces (final, not deferrals it retries
    itself) are counted and repetition suppresses (mailing/bounces.py). Mapped to its ledger
    row, so the ESP retrying its webhook counts once."""
    said = event.mta_response or event.description or ""
    if _permanent_bounce(event):
        verdict = bounces.Verdict(Bounce.Kind.HARD, bounces.enhanced_status(said))
    else:
        verdict = bounces.classify(None, said)
        if verdict.kind == Bounce.Kind.HARD:
            verdict = bounces.Verdict(Bounce.Kind.PERMANENT, verdict.status)
    delivery_id = _delivery_id(event)
    if delivery_id is not None and not Delivery.objects.filter(pk=delivery_id).exists():
        delivery_id = None  # a row of another installation, or one since deleted
    recorded = bounces.bounce_record(
        address=address,
        verdict=verdict,
        source=esp_name[:20],
        detail=event.description or said,
        delivery_id=delivery_id,
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
    # Suppressed, unsubscribed and counted against its mailing, which stops when the rate is
    # too high (mailing/complaints.py), as a feedback-loop report is.
    recorded = complaints.complaint_record(
        address=address,
        delivery_id=_delivery_id(event),
        source=esp_name[:20],
        detail=event.description or "",
    )
    log.info("mailing.esp_event", esp=esp_name, type=event.event_type, counted=recorded.counted)


def connect() -> None:
    tracking.connect(esp_event_apply, dispatch_uid="mailing.esp_event_apply")
