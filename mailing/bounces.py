"""What a delivery failure means for an address, wherever it was learnt (the SMTP reply while
sending, a DSN the relay sent back later, an ESP's event), and what follows from it.

- hard: the address does not exist (enhanced status 5.1.x, 5.2.1, or a 5xx reply saying so in
  words, "550 No such user"): suppressed at once.
- permanent: any other 5xx (a policy block, a rejected message): counted; the address is
  suppressed once MAILING_BOUNCE_HARD_LIMIT permanent failures (hard ones included) fall within
  MAILING_BOUNCE_WINDOW_DAYS.
- soft: 4xx, a delayed DSN, a full mailbox (5.2.2 is "try later" in practice): counted; the
  address is suppressed once MAILING_SOFT_BOUNCE_LIMIT of them fall within the window (0: never).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaign.selectors import supporter_by_email
from mailing import services
from mailing.models import Bounce, Enrollment, Suppression
from mailing.selectors import email_hash

log = structlog.get_logger(__name__)

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# Enhanced codes that say the address itself is gone (RFC 3463): 5.1.x bad destination
# mailbox, system or syntax (5.1.6 moved, 5.1.10 null MX); 5.2.1 mailbox disabled.
_HARD_SUBJECT = {"1"}
_HARD_EXACT = {"5.2.1"}
# Permanent in form, temporary in practice: a full mailbox, a message too big for it now.
_SOFT_EXACT = {"5.2.2", "5.3.4"}
# How servers say "no such address" without an enhanced code (English and Dutch).
_NO_SUCH_ADDRESS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address)"
    r"|mailbox (?:unavailable|not found|does not exist)|unknown (?:recipient|mailbox|address)"
    r"|recipient (?:unknown|not found)|invalid (?:recipient|mailbox)|(?:does not|doesn't) exist"
    r"|account (?:disabled|has been disabled)"
    r"|onbekende (?:gebruiker|ontvanger)|(?:gebruiker|adres|mailbox|ontvanger) bestaat niet"
    r"|onbekend (?:adres|e-mailadres)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    kind: Bounce.Kind
    status: str  # the enhanced status code, "" when none was given


def enhanced_status(text: str) -> str:
    """The first RFC 3463 status code in a reply or diagnostic, "" when there is none."""
    found = _ENHANCED.search(text)
    return ".".join(found.groups()) if found else ""


def classify(code: int | None, text: str, *, status: str = "") -> Verdict:
    """A reply (code and text) or a DSN's Status and Diagnostic-Code, classified. `status`, a
    DSN's own Status field, wins over a code found in the text."""
    status = status.strip() or enhanced_status(text)
    klass = status[:1] or (str(code)[:1] if code else "")
    if klass == "5":
        subject = status.split(".")[1] if status else ""
        if subject in _HARD_SUBJECT or status in _HARD_EXACT:
            return Verdict(Bounce.Kind.HARD, status)
        if status in _SOFT_EXACT:
            return Verdict(Bounce.Kind.SOFT, status)
        if _NO_SUCH_ADDRESS.search(text):
            return Verdict(Bounce.Kind.HARD, status)
        return Verdict(Bounce.Kind.PERMANENT, status)
    return Verdict(Bounce.Kind.SOFT, status)


@dataclass(frozen=True)
class Recorded:
    counted: bool  # False: this delivery's failure of this kind was already counted
    suppressed: bool  # the address is suppressed now because of it


def bounce_record(
    *,
    address: str,
    verdict: Verdict,
    source: str,
    detail: str,
    delivery_id: int | None = None,
    supporter_id: int | None = None,
) -> Recorded:
    """Count one failure and suppress the address when it, or the repetition, says so."""
    hashed = email_hash(address)
    try:
        with transaction.atomic():
            Bounce.objects.create(
                email_hash=hashed,
                kind=verdict.kind,
                status=verdict.status,
                source=source,
                detail=detail[:500],
                delivery_id=delivery_id,
            )
    except IntegrityError:  # told before (a DSN repeated, or after the reply said the same)
        return Recorded(counted=False, suppressed=False)
    reason = _suppression_reason(hashed, verdict.kind)
    if reason is None:
        return Recorded(counted=True, suppressed=False)
    with transaction.atomic():
        services.suppression_add(address=address, reason=reason, detail=f"{source}: {detail}")
        if supporter_id is None:
            supporter = supporter_by_email(address)
            supporter_id = supporter.pk if supporter is not None else None
        if supporter_id is not None:
            services.enrollments_exit(
                supporter_id=supporter_id, reason=Enrollment.ExitReason.BOUNCED
            )
    log.info("mailing.bounce_suppressed", kind=verdict.kind, status=verdict.status, source=source)
    return Recorded(counted=True, suppressed=True)


def _suppression_reason(hashed: str, kind: str) -> str | None:
    if kind == Bounce.Kind.HARD:
        return Suppression.Reason.HARD_BOUNCE
    since = timezone.now() - timedelta(days=settings.MAILING_BOUNCE_WINDOW_DAYS)
    recent = Bounce.objects.filter(email_hash=hashed, created_at__gte=since)
    if kind == Bounce.Kind.PERMANENT:
        limit = settings.MAILING_BOUNCE_HARD_LIMIT
        recent = recent.filter(kind__in=[Bounce.Kind.HARD, Bounce.Kind.PERMANENT])
    else:
        limit = settings.MAILING_SOFT_BOUNCE_LIMIT
        recent = recent.filter(kind=Bounce.Kind.SOFT)
    if limit and recent.count() >= limit:
        return Suppression.Reason.REPEATED_FAILURES
    return None


def bounces_recent(address: str, *, days: int | None = None) -> dict[str, int]:
    """Failures per kind for an address within the window (or `days`): what escalation reads."""
    since = timezone.now() - timedelta(days=days or settings.MAILING_BOUNCE_WINDOW_DAYS)
    counts = dict.fromkeys(Bounce.Kind.values, 0)
    for kind in Bounce.objects.filter(
        email_hash=email_hash(address), created_at__gte=since
    ).values_list("kind", flat=True):
        counts[kind] += 1
    return counts
