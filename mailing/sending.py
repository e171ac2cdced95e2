"""Sending one batch of ledger rows: claim, re-check, render, send, mark.

A row is marked sent right after the server accepted it, one UPDATE each, so a worker killed
mid-batch repeats at most the one message in flight (and that one carries the same Message-ID).
The UPDATE is not waited for: it travels to PostgreSQL while the next message goes out, and its
result is read before the next mark (see _SentMarks), so marking costs no round trip.
"""

from __future__ import annotations

import re
import select
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from functools import lru_cache
from urllib.parse import quote

import structlog
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation
from psycopg import pq

from campaign.models import Supporter
from campaign.selectors import supporters_may_receive
from campaign.tokens import PREFERENCES_SALT, LinkSigner
from mailing import services
from mailing.models import Delivery, Enrollment, Mailing, Message, Suppression
from mailing.ratelimit import SendRateLimiter, limiter_default
from mailing.rendering import Compiled, Personal, compiled_for, message_id_for
from mailing.selectors import email_hash, suppressed_hashes
from mailing.tracking import CLICK_SALT
from mailing.transport import Letter, Reply, Transport, transport_default

log = structlog.get_logger(__name__)

# Enhanced status 5.1.x: the address does not exist (RFC 3463) -> a hard bounce.
# How often a running batch renews the claim on its unsent rows (well under the sweeper's timeout).
_HEARTBEAT_SECONDS = 2.0
_HARD_BOUNCE = re.compile(r"\b5\.1\.\d{1,3}\b")

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


def _retry_delay(attempts: int) -> int:
    return int(settings.MAILING_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))


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


def _mark_permanent(row: Row, address: str, reply: Reply, outcome: SendOutcome) -> None:
    hard = bool(_HARD_BOUNCE.search(reply.text))
    error = f"{reply.code} {reply.text}"
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


_MARK_SENT_SQL = (
    f"UPDATE {Delivery._meta.db_table} SET state = 'sent', sent_at = clock_timestamp(), "  # noqa: S608
    "claimed_at = NULL, smtp_message_id = $1, variant = $2 WHERE id = $3 AND state = 'sending'"
).encode()


class _SentMarks:
    """Marks rows sent without waiting for the answer.

    Each UPDATE is sent on the Django connection's libpq handle (one statement, its own
    transaction in autocommit) and its result read just before the next statement of any kind:
    by then it has long arrived. A worker killed right after sending a mark loses nothing: the
    statement is already in PostgreSQL's socket buffer and is executed and committed.
    Nothing else may use the connection until wait() has returned.
    """

    _STATEMENT = b"survivors_mark_sent"
    _prepared_on: tuple[int, int] | None = None  # (connection object, backend pid)

    def __init__(self) -> None:
        self.outstanding = False

    def send(self, row_id: int, message_id: str, variant: str) -> None:
        self.wait()
        connection.ensure_connection()
        pgconn = connection.connection.pgconn
        params = [message_id.encode(), variant.encode(), str(row_id).encode()]
        if settings.DB_TRANSACTION_POOLING:
            # Behind PgBouncer in transaction pooling the next statement may reach another
            # server connection, where a named statement does not exist: send it unnamed.
            pgconn.send_query_params(_MARK_SENT_SQL, params)
            self._flush(pgconn)
            return
        session = (id(pgconn), pgconn.backend_pid)
        if _SentMarks._prepared_on != session:
            # Prepared once per database session: PostgreSQL then skips parsing and planning
            # for every mark, which is most of its cost per row.
            result = pgconn.prepare(self._STATEMENT, _MARK_SENT_SQL)
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise RuntimeError((result.error_message or b"").decode(errors="replace"))
            _SentMarks._prepared_on = session
        pgconn.send_query_prepared(self._STATEMENT, params)
        self._flush(pgconn)

    def _flush(self, pgconn: pq.abc.PGconn) -> None:
        self.outstanding = True
        # psycopg runs libpq non-blocking: make sure the statement has left this process before
        # the next message goes out (a full socket buffer would otherwise hold it back).
        while (pending := pgconn.flush()) == 1:
            select.select([], [pgconn.socket], [], 5)
        if pending < 0:
            raise RuntimeError((pgconn.error_message or b"").decode(errors="replace"))

    def wait(self) -> None:
        if not self.outstanding:
            return
        self.outstanding = False
        pgconn = connection.connection.pgconn
        error = None
        while (result := pgconn.get_result()) is not None:
            if result.status != pq.ExecStatus.COMMAND_OK:
                error = (result.error_message or b"").decode(errors="replace")
        if error:
            raise RuntimeError(f"marking a row sent failed: {error}")


@lru_cache(maxsize=8)
def _paths(language: str) -> tuple[str, str, str]:
    """Donate, preferences and unsubscribe paths, reversed once per language with a slot for
    the supporter's token (reverse() per recipient costs more than building the message)."""
    slot = "TOKENSLOT"
    with translation.override(language):
        donate = reverse("donations:donate")
        preferences = reverse("campaign:preferences", kwargs={"token": slot})
    unsubscribe = reverse("supporter_unsubscribe", kwargs={"token": slot})
    return donate, preferences, unsubscribe


class _Links:
    """Each recipient's links, the same campaign.emails, services.source_token and
    tracking.click_base build (tests compare them). The signers and settings are read once
    per batch: per recipient they cost more than building the links themselves."""

    def __init__(self) -> None:
        self.site = settings.SITE_URL
        self.mailto = settings.SUPPORTERS_UNSUBSCRIBE_MAILTO
        self.tracking = settings.MAILING_CLICK_TRACKING
        self.supporter_signer = LinkSigner(salt=PREFERENCES_SALT)
        self.source_signer = LinkSigner(salt=services.SOURCE_SALT)
        self.click_signer = LinkSigner(salt=CLICK_SALT)

    def personal(self, supporter: Supporter, *, language: str, delivery_id: int) -> Personal:
        donate, preferences, unsubscribe = _paths(language)
        # campaign.tokens.supporter_token: one token for the preference and unsubscribe links.
        token = self.supporter_signer.sign(f"{supporter.pk}.{supporter.link_secret}")
        source = f"source={self.source_signer.sign(str(delivery_id))}"
        click = ""
        if self.tracking:
            click = f"{self.site}/r/{self.click_signer.sign(f'{delivery_id}.{language}')}"
        return Personal(
            address=supporter.email or "",
            name=supporter.first_name,
            donate_url=f"{self.site}{donate}?{source}",
            donate_query=source,
            preferences_url=self.site + preferences.replace("TOKENSLOT", token),
            unsubscribe_url=self.site + unsubscribe.replace("TOKENSLOT", token),
            unsubscribe_mailto=f"mailto:{self.mailto}?subject={quote(f'unsubscribe {token}')}",
            message_id=message_id_for(delivery_id),
            click_base=click,
        )


def personal_links(supporter: Supporter, *, language: str, delivery_id: int) -> Personal:
    return _Links().personal(supporter, language=language, delivery_id=delivery_id)


def _letters(
    rows: list[Row],
    supporters: dict[int, Supporter],
    compiled: dict[tuple[int, str], Compiled],
    limiter: SendRateLimiter,
    heartbeat: Callable[[], None],
) -> Iterator[Letter]:
    """Built one at a time, as the transport asks: memory stays flat whatever the batch."""
    beat = time.monotonic()
    links = _Links()
    for row in rows:
        if time.monotonic() - beat > _HEARTBEAT_SECONDS:
            heartbeat()
            beat = time.monotonic()
        supporter = supporters[row.supporter_id]
        language = _language(supporter)
        version = compiled[(row.message_id, language)]
        limiter.wait()
        yield Letter(
            key=row.id,
            recipient=supporter.email or "",
            compiled=version,
            personal=links.personal(supporter, language=language, delivery_id=row.id),
            variant="B" if "B" in version.subjects and row.supporter_id % 2 else "A",
        )


def _language(supporter: Supporter) -> str:
    return supporter.language if supporter.language in ("nl", "en") else "nl"


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
    # Same version together (message, language, A/B half): an ESP takes each version's
    # recipients in one call, so a batch in claim order (which UPDATE ... RETURNING does not
    # fix) could cost up to one call per recipient. SMTP does not mind the order.
    rows.sort(
        key=lambda r: (r.message_id, _language(supporters[r.supporter_id]), r.supporter_id % 2)
    )
    # Compiled before sending starts: a cache miss reads the database, which the marks hold.
    compiled = {
        (r.message_id, lang): compiled_for(r.message_id, lang)
        for r in rows
        for lang in [_language(supporters[r.supporter_id])]
    }

    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    transport = transport or transport_default()
    limiter = limiter_default()
    pending = {row.id: row for row in rows}  # claimed, no reply yet
    marks = _SentMarks()

    def heartbeat() -> None:
        # Still alive: the sweeper only takes rows whose claim stopped being renewed, so a
        # slow batch is never sent twice.
        marks.wait()
        _renew_claim(list(pending.values()))

    # Marks are many small commits: do not wait for each WAL flush. A database crash could
    # forget the last few hundred milliseconds of marks (a repeat, same Message-ID); a worker
    # crash cannot, the server already has them. Reset before the connection serves other work.
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        transport.open()
        letters = _letters(rows, supporters, compiled, limiter, heartbeat)
        for letter, reply in transport.deliver(sender, letters):
            row = pending.pop(letter.key)
            if reply.accepted:
                marks.send(row.id, letter.personal.message_id, letter.variant)
                outcome.sent += 1
                continue
            marks.wait()
            if 400 <= reply.code < 500:
                if reply.code in _SLOW_DOWN:
                    limiter.push_back()
                _mark_temporary(row, f"{reply.code} {reply.text}", outcome)
            else:
                _mark_permanent(row, letter.recipient, reply, outcome)
    except OSError as exc:  # TransportLost, refused connection, timeouts (smtplib's too)
        # The server went away: the rows without a reply go back for a later attempt.
        marks.wait()
        log.warning("mailing.transport_lost", error=str(exc), left=len(pending))
        outcome.released += _release(list(pending.values()), delay_seconds=_retry_delay(1))
    except Exception:
        # Anything unexpected: rows not yet tried go back; the sent ones stay sent.
        marks.wait()
        _release(list(pending.values()))
        raise
    finally:
        marks.wait()
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
