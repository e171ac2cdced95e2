"""Delivery status notifications (RFC 3464) that come back after the relay accepted a message:
parsed with the email package, mapped to the ledger row (VERP address first, then the returned
message's Message-ID), classified and counted (mailing/bounces.py). Feedback-loop reports (ARF)
reach the same route and are handed to mailing/arf.py."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message as EmailMessage
from email.utils import getaddresses

import structlog
from django.conf import settings

from mailing import bounces
from mailing.arf import arf_receive, feedback_report
from mailing.models import Bounce, Delivery
from mailing.verp import verp_delivery_id

log = structlog.get_logger(__name__)

_LEDGER_ID = re.compile(r"<ledger-(\d{1,18})@([^>\s]+)>")
# Where the envelope recipient (our VERP address) shows in a DSN as an MTA hands it over.
_ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "To")


@dataclass(frozen=True)
class RecipientStatus:
    recipient: str  # Final-Recipient (or Original-Recipient) address
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # e.g. 5.1.1
    diagnostic: str  # e.g. "smtp; 550 5.1.1 <a@b.nl>: Recipient address rejected"


@dataclass
class DsnResult:
    is_dsn: bool = False
    counted: int = 0
    suppressed: int = 0
    complaints: int = 0  # spam complaints counted from a feedback-loop report (mailing/arf.py)


def _address(field: str) -> str:
    """ "rfc822; someone@example.org" -> the address."""
    _, _, value = field.partition(";")
    return (value or field).strip().strip("<>")


def recipient_statuses(message: EmailMessage) -> list[RecipientStatus]:
    """The per-recipient blocks of the message/delivery-status part; [] when it is no DSN."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            return []
        found = []
        for block in blocks[1:]:  # the first block is per-message (Reporting-MTA, ...)
            if not isinstance(block, EmailMessage):
                continue
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient") or ""
            found.append(
                RecipientStatus(
                    recipient=_address(str(recipient)),
                    action=str(block.get("Action", "")).strip().lower(),
                    status=str(block.get("Status", "")).strip()[:12],
                    diagnostic=" ".join(str(block.get("Diagnostic-Code", "")).split()),
                )
            )
        return found
    return []


def _delivery_id(message: EmailMessage) -> int | None:
    for header in _ENVELOPE_HEADERS:
        for _, address in getaddresses([str(v) for v in message.get_all(header, [])]):
            if (found := verp_delivery_id(address)) is not None:
                return found
    return returned_ledger_id(message)


def returned_ledger_id(message: EmailMessage) -> int | None:
    """The ledger row named by the Message-ID of the message a report returns (its headers as
    text/rfc822-headers, or the whole of it as message/rfc822)."""
    for part in message.walk():
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822"):
            text = part.as_string() if part.is_multipart() else str(part.get_payload())
            for ledger in _LEDGER_ID.finditer(text):
                if ledger.group(2).lower() == settings.MAILING_DOMAIN.lower():
                    return int(ledger.group(1))
    return None


def dsn_receive(raw: bytes) -> DsnResult:
    """Count the failures a DSN reports, or the complaint a feedback-loop report (ARF) tells.
    Anything else (an auto-reply, a success notice) is ignored: the MTA gets no error for it,
    there is nothing to retry."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    report = feedback_report(message)
    if report is not None:
        arf = arf_receive(report, ledger_id=returned_ledger_id(message))
        log.info("mailing.arf_received", type=report.feedback_type, counted=arf.counted)
        return DsnResult(complaints=int(arf.counted))
    statuses = recipient_statuses(message)
    result = DsnResult(is_dsn=bool(statuses))
    delivery_id = _delivery_id(message)
    delivery = (
        Delivery.objects.filter(pk=delivery_id).select_related("supporter").first()
        if delivery_id is not None
        else None
    )
    for status in statuses:
        if status.action not in ("failed", "delayed"):
            continue
        verdict = bounces.classify(None, status.diagnostic, status=status.status)
        if status.action == "delayed":  # still being tried: never more than soft
            verdict = bounces.Verdict(Bounce.Kind.SOFT, verdict.status)
        address = status.recipient
        if delivery is not None and delivery.supporter.email:
            address = delivery.supporter.email  # the VERP names who it was for, whatever forwarding
        if not address or "@" not in address:
            continue
        recorded = bounces.bounce_record(
            address=address,
            verdict=verdict,
            source="dsn",
            detail=f"{status.action} {status.status} {status.diagnostic}".strip(),
            delivery_id=delivery.pk if delivery is not None else None,
            supporter_id=delivery.supporter_id if delivery is not None else None,
        )
        result.counted += recorded.counted
        result.suppressed += recorded.suppressed
    log.info(
        "mailing.dsn_received",
        is_dsn=result.is_dsn,
        delivery=delivery.pk if delivery else None,
        counted=result.counted,
        suppressed=result.suppressed,
    )
    return result
