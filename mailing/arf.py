"""Feedback-loop reports (ARF, RFC 5965): a mailbox provider tells us a person pressed "this is
spam". They arrive as mail at the address registered with the provider's feedback loop, which
the MTA hands to the same inbound route as DSNs (docs/operations.md). Parsed with the email
package; the report names the email through its Original-Mail-From (our VERP address) or the
returned message's Message-ID, and the person through Original-Rcpt-To (often redacted, then
the ledger row says who it was). Counted and acted on by mailing/complaints.py."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message as EmailMessage
from email.parser import HeaderParser
from email.utils import getaddresses

from mailing import complaints
from mailing.verp import verp_delivery_id

# Feedback types that are a complaint (RFC 5965 section 7.3): "abuse" is the spam button.
# "not-spam", "auth-failure" (RFC 6591), "virus", "fraud" and "other" are not.
_COMPLAINT_TYPES = {"abuse"}


@dataclass(frozen=True)
class FeedbackReport:
    feedback_type: str
    original_mail_from: str
    original_rcpt_to: str
    user_agent: str


def feedback_report(message: EmailMessage) -> FeedbackReport | None:
    """The machine-readable part of an ARF report, or None when the message is none."""
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        # The email package parses message/* subtypes as one embedded message (its headers are
        # the report's fields); a part it left as text is parsed here.
        if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
            fields = payload[0]
        else:
            fields = HeaderParser().parsestr(str(payload))
        return FeedbackReport(
            feedback_type=str(fields.get("Feedback-Type", "")).strip().lower(),
            original_mail_from=_first_address(fields.get_all("Original-Mail-From", [])),
            original_rcpt_to=_first_address(fields.get_all("Original-Rcpt-To", [])),
            user_agent=str(fields.get("User-Agent", "")).strip()[:100],
        )
    return None


def _first_address(values: list[str]) -> str:
    found = [address for _, address in getaddresses([str(v) for v in values]) if "@" in address]
    return found[0] if found else ""


@dataclass
class ArfResult:
    complaint: bool = False  # a report of the spam button
    counted: bool = False  # counted now (not a repeat)


def arf_receive(report: FeedbackReport, *, ledger_id: int | None) -> ArfResult:
    """`ledger_id`: the returned message's deterministic Message-ID, if any (mailing/dsn.py)."""
    if report.feedback_type not in _COMPLAINT_TYPES:
        return ArfResult()
    delivery_id = verp_delivery_id(report.original_mail_from) if report.original_mail_from else None
    recorded = complaints.complaint_record(
        address=report.original_rcpt_to,
        delivery_id=delivery_id if delivery_id is not None else ledger_id,
        source="arf",
        detail=f"{report.feedback_type} report by {report.user_agent or 'unknown'}",
    )
    return ArfResult(complaint=True, counted=recorded.counted)
