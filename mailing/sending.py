"""Sending one batch of ledger rows: claim, re-check, render, send, mark.

A row is marked sent right after the server accepted it, one UPDATE each, so a worker killed
mid-batch repeats at most the one message in flight (and that one carries the same Message-ID).
"""

from __future__ import annotations

import re
import smtplib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr

import structlog
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from campaign.emails import preferences_url, unsubscribe_mailto, unsubscribe_url
from campaign.models import Supporter
from campaign.selectors import supporters_may_receive
from mailing import services
from mailing.dkim_signing import dkim_enabled, dkim_sign
from mailing.models import Delivery, Enrollment, Mailing, Message, Suppression
from mailing.ratelimit import limiter_default
from mailing.rendering import Personal, compiled_for, message_bytes, message_id_for
from mailing.selectors import email_hash, suppressed_hashes
from mailing.transport import Transport, transport_default

log = structlog.get_logger(__name__)

# Enhanced status 5.1.x: the address does not exist (RFC 3463) -> a hard bounce.
# How often a running batch renews the claim on its unsent rows (well under the sweeper's timeout).
_HEARTBEAT_SECONDS = 2.0
_HARD_BOUNCE = re.compile(rb"\b5\.1\.\d{1,3}\b")

_CLAIM_SQL = """
UPDATE {delivery} SET state = 'sending', claimed_at = %(now)s, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM {delivery}
    WHERE id = ANY(%(ids)s) AND state = 'queued'
      AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
    FOR UPDATE SKIP LOCKED
)
RETURNING id, message_id, supporter_id, attempts
"""


@dataclass
class Row:
    id: int
    message_id: int
    supporter_id: int
    attempts: int


@dataclass
class SendOutcome:
    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    failed: int = 0
    released: int = 0


# Replies that mean "too fast" (service not available, try later; insufficient resources).
_SLOW_DOWN = {421, 451, 452}


def _claim(delivery_ids: list[int]) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL.format(delivery=Delivery._meta.db_table),
            {"ids": delivery_ids, "now": timezone.now()},
        )
        return [Row(*values) for values in cursor.fetchall()]


def _renew_claim(rows: list[Row]) -> None:
    Delivery.objects.filter(pk__in=[r.id for r in rows], state="sending").update(
        claimed_at=timezone.now()
    )


def _release(rows: list[Row], *, delay_seconds: int = 0) -> int:
    """Put claimed rows back, untouched by this attempt (paused mailing, server gone)."""
    if not rows:
        return 0
    return Delivery.objects.filter(pk__in=[r.id for r in rows], state="sending").update(
        state=Delivery.State.QUEUED,
        claimed_at=None,
        dispatched_at=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay_seconds),
    )


def _skip(rows: list[Row], reason: str, outcome: SendOutcome) -> None:
    if rows:
        Delivery.objects.filter(pk__in=[r.id for r in rows], state="sending").update(
            state=Delivery.State.SKIPPED, reason=reason, claimed_at=None
        )
        outcome.skipped[reason] = outcome.skipped.get(reason, 0) + len(rows)


def _donate_url(language: str, delivery_id: int) -> str:
    with translation.override(language):
        path = reverse("donations:donate")
    return f"{settings.SITE_URL}{path}?source={services.source_token(delivery_id)}"


def _retry_delay(attempts: int) -> int:
    return int(settings.MAILING_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))


def _mark_sent(row: Row, message_id: str, variant: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} SET state = 'sent', sent_at = clock_timestamp(), "  # noqa: S608
            "claimed_at = NULL, smtp_message_id = %s, variant = %s "
            "WHERE id = %s AND state = 'sending'",
            [message_id, variant, row.id],
        )


def _mark_temporary(row: Row, error: str, outcome: SendOutcome) -> None:
    if row.attempts >= settings.MAILING_MAX_ATTEMPTS:
        Delivery.objects.filter(pk=row.id).update(
            state=Delivery.State.FAILED,
            reason=Delivery.Reason.GAVE_UP,
            last_error=error[:500],
            claimed_at=None,
        )
        outcome.failed += 1
        return
    Delivery.objects.filter(pk=row.id).update(
        state=Delivery.State.QUEUED,
        last_error=error[:500],
        claimed_at=None,
        dispatched_at=None,
        next_attempt_at=timezone.now() + timedelta(seconds=_retry_delay(row.attempts)),
    )
    outcome.retried += 1


def _mark_permanent(row: Row, address: str, code: int, text: bytes, outcome: SendOutcome) -> None:
    hard = bool(_HARD_BOUNCE.search(text))
    error = f"{code} {text.decode(errors='replace')}"
    Delivery.objects.filter(pk=row.id).update(
        state=Delivery.State.FAILED,
        reason=Delivery.Reason.HARD_BOUNCE if hard else Delivery.Reason.REJECTED,
        last_error=error[:500],
        claimed_at=None,
    )
    if hard:
        services.suppression_add(
            address=address, reason=Suppression.Reason.HARD_BOUNCE, detail=error
        )
        services.enrollments_exit(
            supporter_id=row.supporter_id, reason=Enrollment.ExitReason.BOUNCED
        )
    outcome.failed += 1


def _smtp_reply(exc: smtplib.SMTPException, address: str) -> tuple[int, bytes] | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = exc.recipients.get(address, (451, b"refused"))
        return int(code), bytes(text)
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        return exc.smtp_code, error if isinstance(error, bytes) else str(error).encode()
    return None


def _checked(rows: list[Row], messages: dict[int, Message], outcome: SendOutcome) -> list[Row]:
    """Send-time checks: mailing state, consent, address, suppression, sequence exits."""
    sendable: list[Row] = []
    by_message: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_message[row.message_id].append(row)
    for message_id, group in by_message.items():
        message = messages[message_id]
        mailing = message.mailing
        if mailing is not None and mailing.state == Mailing.State.CANCELLED:
            _skip(group, Delivery.Reason.CANCELLED, outcome)
            continue
        if mailing is not None and mailing.state != Mailing.State.SENDING:
            outcome.released += _release(group)  # paused: resume dispatches them again
            continue
        allowed = supporters_may_receive([r.supporter_id for r in group], message.topic)
        _skip([r for r in group if r.supporter_id not in allowed], "no_consent", outcome)
        group = [r for r in group if r.supporter_id in allowed]
        if message.step is not None:
            stopped = services.supporters_stopped_in_sequence(
                sequence_id=message.step.sequence_id, supporter_ids=[r.supporter_id for r in group]
            )
            _skip([r for r in group if r.supporter_id in stopped], "exited", outcome)
            group = [r for r in group if r.supporter_id not in stopped]
        sendable.extend(group)
    return sendable


def deliveries_send(delivery_ids: list[int], *, transport: Transport | None = None) -> SendOutcome:
    """Send the rows of a batch that are still queued; rows another worker holds are left."""
    outcome = SendOutcome()
    rows = _claim(delivery_ids)
    if not rows:
        return outcome
    messages = {
        m.pk: m
        for m in Message.objects.filter(pk__in={r.message_id for r in rows}).select_related(
            "mailing", "step"
        )
    }
    rows = _checked(rows, messages, outcome)
    supporters = {
        s.pk: s
        for s in Supporter.objects.filter(pk__in=[r.supporter_id for r in rows]).only(
            "id", "email", "first_name", "language", "link_secret"
        )
    }
    hashes = {sid: email_hash(s.email) for sid, s in supporters.items() if s.email}
    blocked = suppressed_hashes(hashes.values())
    _skip([r for r in rows if r.supporter_id not in hashes], "no_address", outcome)
    _skip([r for r in rows if hashes.get(r.supporter_id) in blocked], "suppressed", outcome)
    rows = [r for r in rows if r.supporter_id in hashes and hashes[r.supporter_id] not in blocked]
    if not rows:
        return outcome

    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    transport = transport or transport_default()
    signing = dkim_enabled()
    limiter = limiter_default()
    pending = list(rows)
    # Marks are many small commits: do not wait for each WAL flush. A database crash could
    # forget the last few hundred milliseconds of marks (a repeat, same Message-ID); a worker
    # crash cannot, the server already has them. Reset before the connection serves other work.
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        transport.open()
        heartbeat = time.monotonic()
        while pending:
            if time.monotonic() - heartbeat > _HEARTBEAT_SECONDS:
                # Still alive: the sweeper only takes rows whose claim stopped being renewed,
                # so a slow batch is never sent twice.
                _renew_claim(pending)
                heartbeat = time.monotonic()
            row = pending[0]
            supporter = supporters[row.supporter_id]
            address = supporter.email or ""
            language = supporter.language if supporter.language in ("nl", "en") else "nl"
            compiled = compiled_for(row.message_id, language)
            variant = "B" if "B" in compiled.subjects and row.supporter_id % 2 else "A"
            message_id = message_id_for(row.id)
            data = message_bytes(
                compiled,
                Personal(
                    address=address,
                    name=supporter.first_name,
                    donate_url=_donate_url(language, row.id),
                    preferences_url=preferences_url(supporter),
                    unsubscribe_url=unsubscribe_url(supporter),
                    unsubscribe_mailto=unsubscribe_mailto(supporter),
                    message_id=message_id,
                ),
                variant=variant,
            )
            if signing:
                data = dkim_sign(data)
            limiter.wait()
            try:
                transport.send(sender, address, data)
            except smtplib.SMTPException as exc:
                reply = _smtp_reply(exc, address)
                if reply is None:
                    # The connection broke (SMTPException is an OSError too, hence the order):
                    # this row and the rest go back for a later attempt.
                    log.warning("mailing.smtp_lost", error=str(exc), left=len(pending))
                    outcome.released += _release(pending, delay_seconds=_retry_delay(1))
                    pending = []
                    break
                if 400 <= reply[0] < 500:
                    if reply[0] in _SLOW_DOWN:
                        limiter.push_back()
                    _mark_temporary(row, f"{reply[0]} {reply[1].decode(errors='replace')}", outcome)
                else:
                    _mark_permanent(row, address, reply[0], reply[1], outcome)
            except OSError as exc:
                log.warning("mailing.smtp_lost", error=str(exc), left=len(pending))
                outcome.released += _release(pending, delay_seconds=_retry_delay(1))
                pending = []
                break
            else:
                _mark_sent(row, message_id, variant)
                outcome.sent += 1
            pending.pop(0)
    except Exception:
        # Anything unexpected: rows not yet tried go back; the sent ones stay sent.
        _release(pending)
        raise
    finally:
        transport.close()
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO DEFAULT")
    log.info(
        "mailing.batch_sent",
        sent=outcome.sent,
        skipped=outcome.skipped,
        retried=outcome.retried,
        failed=outcome.failed,
    )
    return outcome
