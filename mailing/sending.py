"""Sending one batch of ledger rows: claim, re-check, render, send, mark.

A row is marked sent right after the server accepted it, one UPDATE each, so a worker killed
mid-batch repeats at most the one message in flight (and that one carries the same Message-ID).
The UPDATE is not waited for: it travels to PostgreSQL while the server reads the next
envelope, and its result is read just before the next message's content is written (see
_SentMarks and SmtpTransport.before_content), so marking costs no round trip and a database lost
mid-batch also repeats at most one message: the one whose mark did not arrive. If the database
is back within seconds (a restart), that mark is applied again and nothing repeats. Measured
(20,000 recipients, production timers; DESIGN.md, invariant 5): a PostgreSQL restart repeated
nothing and mail flowed again 0.1 s after it; five SIGKILLs repeated 2 messages (the bound is
one per broken batch, 5).

`attempts` counts only attempts that reached a server reply. A refused or broken connection, a
paused mailing or a lost database put the unsent rows back untouched (the mail server being
away for an hour spends nothing); a batch that dies outright leaves its rows to the sweeper,
which takes them back once their claim (renewed every 2 s) is stale.
"""

from __future__ import annotations

import select
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache, partial
from urllib.parse import quote

import psycopg
import structlog
from django import db
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from psycopg import pq

from campaign.models import Supporter
from campaign.selectors import supporters_may_receive
from campaign.tokens import PREFERENCES_SALT, LinkSigner
from mailing import bounces, services
from mailing.models import Bounce, Delivery, Mailing, Message
from mailing.ratelimit import SendRateLimiter, limiter_default
from mailing.rendering import Compiled, Personal, compiled_for, message_id_for
from mailing.selectors import (
    MAILING_HALTED,
    NO_REPLY,
    deliveries_no_longer_sendable,
    email_hash,
    suppressed_hashes,
)
from mailing.tracking import CLICK_SALT
from mailing.transport import Letter, Reply, SmtpTransport, Transport, transport_default
from mailing.verp import verp_sender
from worker import outage

log = structlog.get_logger(__name__)

# How often a running batch renews the claim on its unsent rows (well under the sweeper's timeout).
_HEARTBEAT_SECONDS = 2.0

_CLAIM_SQL = """
UPDATE {delivery} SET state = 'sending', claimed_at = %(now)s
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
# The database went away under the batch (a restart, a network cut).
_DATABASE_LOST = (db.OperationalError, db.InterfaceError, psycopg.OperationalError)


class ClaimLost(Exception):
    """The sweeper took rows of this batch back (it looked dead); another batch may hold them."""


def _claim(delivery_ids: list[int], now: datetime) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL.format(delivery=Delivery._meta.db_table),
            {"ids": delivery_ids, "now": now},
        )
        return [Row(*values) for values in cursor.fetchall()]


def _renew_claim(rows: list[Row], claimed_at: datetime, now: datetime) -> None:
    """The claim's time is its token: rows the sweeper took back and another batch claimed
    carry another time, so they are not renewed here, and this batch stops (ClaimLost)."""
    renewed = Delivery.objects.filter(
        pk__in=[r.id for r in rows], state="sending", claimed_at=claimed_at
    ).update(claimed_at=now)
    if renewed < len(rows):
        raise ClaimLost(f"{len(rows) - renewed} of {len(rows)} rows taken back by the sweeper")


def _release(rows: list[Row], *, delay_seconds: int = 0, error: str = "") -> int:
    """Put claimed rows back, untouched by this attempt (paused mailing, server gone): the
    claim never counted as an attempt, so nothing is spent."""
    if not rows:
        return 0
    said = {"last_error": f"{NO_REPLY}{error}"[:500]} if error else {}
    return Delivery.objects.filter(pk__in=[r.id for r in rows], state="sending").update(
        state=Delivery.State.QUEUED,
        claimed_at=None,
        dispatched_at=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay_seconds),
        **said,
    )


def _skip(rows: list[Row], reason: str, outcome: SendOutcome) -> None:
    if rows:
        Delivery.objects.filter(pk__in=[r.id for r in rows], state="sending").update(
            state=Delivery.State.SKIPPED, reason=reason, claimed_at=None
        )
        outcome.skipped[reason] = outcome.skipped.get(reason, 0) + len(rows)


def _retry_delay(attempts: int) -> int:
    return int(settings.MAILING_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))


def _mark_temporary(row: Row, address: str, error: str, outcome: SendOutcome) -> None:
    attempts = row.attempts + 1  # this one reached a reply
    if attempts >= settings.MAILING_MAX_ATTEMPTS:
        # Given up on: one soft bounce for the address (repeated ones suppress it).
        bounces.bounce_record(
            address=address,
            verdict=bounces.Verdict(Bounce.Kind.SOFT, bounces.enhanced_status(error)),
            source="smtp",
            detail=error,
            delivery_id=row.id,
            supporter_id=row.supporter_id,
        )
        Delivery.objects.filter(pk=row.id).update(
            state=Delivery.State.FAILED,
            reason=Delivery.Reason.GAVE_UP,
            attempts=attempts,
            last_error=f"gave up after {attempts} temporary failures, the last: {error}"[:500],
            claimed_at=None,
        )
        outcome.failed += 1
        return
    Delivery.objects.filter(pk=row.id).update(
        state=Delivery.State.QUEUED,
        attempts=attempts,
        last_error=error[:500],
        claimed_at=None,
        dispatched_at=None,
        next_attempt_at=timezone.now() + timedelta(seconds=_retry_delay(attempts)),
    )
    outcome.retried += 1


def _mark_permanent(row: Row, address: str, reply: Reply, outcome: SendOutcome) -> None:
    """A 5xx: failed. The address is suppressed when the reply says it does not exist (by
    enhanced code or in words) or when failures repeat (mailing/bounces.py)."""
    verdict = bounces.classify(reply.code, reply.text)
    hard = verdict.kind == Bounce.Kind.HARD
    error = f"{reply.code} {reply.text}"
    Delivery.objects.filter(pk=row.id).update(
        state=Delivery.State.FAILED,
        reason=Delivery.Reason.HARD_BOUNCE if hard else Delivery.Reason.REJECTED,
        attempts=row.attempts + 1,
        last_error=error[:500],
        claimed_at=None,
    )
    bounces.bounce_record(
        address=address,
        verdict=verdict,
        source="smtp",
        detail=error,
        delivery_id=row.id,
        supporter_id=row.supporter_id,
    )
    outcome.failed += 1


def _skip_lost_consent(pending: dict[int, Row], handed: set[int], outcome: SendOutcome) -> None:
    """Drop the rows not handed to the transport yet that must not go out any more (one
    query): skipped when their supporter withdrew consent, their address was suppressed or they
    left the sequence since the batch's last look; put back when their mailing was paused (by
    staff or by its complaint rate), so a resume sends them."""
    lost = deliveries_no_longer_sendable(r for r in pending if r not in handed)
    by_reason: dict[str, list[Row]] = defaultdict(list)
    for row_id, reason in lost.items():
        by_reason[reason].append(pending.pop(row_id))
    for reason, group in by_reason.items():
        if reason == MAILING_HALTED:
            outcome.released += _release(group)
        else:
            _skip(group, reason, outcome)
    if lost:
        log.info(
            "mailing.rows_stopped_mid_batch", stopped={r: len(g) for r, g in by_reason.items()}
        )


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
    "claimed_at = NULL, attempts = attempts + 1, smtp_message_id = $1, variant = $2 "
    # 'queued' too: the sweeper may have taken the row back while its message was on the wire
    # (a stall past the timeout); it went out, so it is sent, and is not sent again.
    "WHERE id = $3 AND state IN ('sending', 'queued')"
).encode()
# Behind PgBouncer in transaction pooling: the mark carries its own setting (a session's SET
# would reach one server connection and stay there, for other clients' work). Two statements
# in one simple query run as one implicit transaction: SET LOCAL holds for its commit, and a
# failing UPDATE rolls it back whole, leaving no transaction open.
_MARK_SENT_POOLED = "SET LOCAL synchronous_commit TO OFF; " + (
    _MARK_SENT_SQL.decode().replace("$1", "{0}").replace("$2", "{1}").replace("$3", "{2}")
)


class _SentMarks:
    """Marks rows sent without waiting for the answer.

    Each UPDATE is sent on the Django connection's libpq handle (one statement, its own
    transaction in autocommit) and its result read just before the next message's content goes
    out (SmtpTransport.before_content) or the next statement of any kind: by then it has long
    arrived, and a mark that failed stops the batch before a second message is unaccounted
    for. A worker killed right after sending a mark loses nothing: the statement is already in
    PostgreSQL's socket buffer and is executed and committed.
    Nothing else may use the connection until wait() has returned.
    """

    _STATEMENT = b"survivors_mark_sent"
    _prepared_on: tuple[int, int] | None = None  # (connection object, backend pid)

    def __init__(self) -> None:
        self.outstanding = False
        # The last mark whose success has not been read: (row id, Message-ID, variant).
        self.unconfirmed: tuple[int, str, str] | None = None

    def send(self, row_id: int, message_id: str, variant: str) -> None:
        self.wait()
        self.unconfirmed = (row_id, message_id, variant)
        connection.ensure_connection()
        try:
            self._send(connection.connection.pgconn, row_id, message_id, variant)
        except psycopg.OperationalError as exc:  # libpq: the connection is gone
            raise _connection_lost(str(exc)) from exc
        self.outstanding = True

    def _send(self, pgconn: pq.abc.PGconn, row_id: int, message_id: str, variant: str) -> None:
        params = [message_id.encode(), variant.encode(), str(row_id).encode()]
        if settings.DB_TRANSACTION_POOLING:
            # Behind PgBouncer in transaction pooling the next statement may reach another
            # server connection, where a named statement does not exist, and where the batch's
            # session setting does not hold: one simple query, its own transaction.
            quote = pq.Escaping(pgconn).escape_literal
            sql = _MARK_SENT_POOLED.format(
                quote(params[0]).decode(), quote(params[1]).decode(), int(row_id)
            )
            pgconn.send_query(sql.encode())
            self._flush(pgconn)
            return
        session = (id(pgconn), pgconn.backend_pid)
        if _SentMarks._prepared_on != session:
            # Prepared once per database session: PostgreSQL then skips parsing and planning
            # for every mark, which is most of its cost per row.
            result = pgconn.prepare(self._STATEMENT, _MARK_SENT_SQL)
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise _connection_lost((result.error_message or b"").decode(errors="replace"))
            _SentMarks._prepared_on = session
        pgconn.send_query_prepared(self._STATEMENT, params)
        self._flush(pgconn)

    def _flush(self, pgconn: pq.abc.PGconn) -> None:
        # psycopg runs libpq non-blocking: make sure the statement has left this process before
        # the next message goes out (a full socket buffer would otherwise hold it back).
        while (pending := pgconn.flush()) == 1:
            select.select([], [pgconn.socket], [], 5)
        if pending < 0:
            raise _connection_lost((pgconn.error_message or b"").decode(errors="replace"))

    def wait(self) -> None:
        if not self.outstanding:
            return
        self.outstanding = False
        pgconn = connection.connection.pgconn
        error = None
        try:
            while (result := pgconn.get_result()) is not None:
                if result.status != pq.ExecStatus.COMMAND_OK:
                    error = (result.error_message or b"").decode(errors="replace")
        except psycopg.OperationalError as exc:
            raise _connection_lost(str(exc)) from exc
        if pgconn.status == pq.ConnStatus.BAD:
            raise _connection_lost(error or "connection lost")
        if error:
            raise RuntimeError(f"marking a row sent failed: {error}")
        self.unconfirmed = None

    def confirm_lost(self) -> None:
        """Apply again a mark the database went away under (its message did go out), so the
        one message a restart interrupts is not sent twice either. A no-op if it had landed."""
        if self.unconfirmed is None:
            return
        row_id, message_id, variant = self.unconfirmed
        Delivery.objects.filter(
            pk=row_id, state__in=[Delivery.State.SENDING, Delivery.State.QUEUED]
        ).update(
            state=Delivery.State.SENT,
            sent_at=timezone.now(),
            claimed_at=None,
            attempts=F("attempts") + 1,
            smtp_message_id=message_id,
            variant=variant,
        )
        self.unconfirmed = None


def _connection_lost(error: str) -> psycopg.OperationalError:
    """The server went away (a restart) under a mark. The connection is dead and Django cannot
    tell (the statement bypassed it): drop it, so putting the unsent rows back, and the task's
    retry, connect afresh."""
    if not connection.in_atomic_block:
        connection.close()
    return psycopg.OperationalError(f"marking a row sent failed: {error}")


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
    hand_over: Callable[[int], bool],
) -> Iterator[Letter]:
    """Built one at a time, as the transport asks: memory stays flat whatever the batch.
    The rate-limit wait comes before the heartbeat, so a row's last re-check of consent is as
    close as can be to its hand-over; rows the re-check skipped are not handed over."""
    links = _Links()
    for row in rows:
        limiter.wait()
        heartbeat()
        if not hand_over(row.id):
            continue
        supporter = supporters[row.supporter_id]
        language = _language(supporter)
        version = compiled[(row.message_id, language)]
        yield Letter(
            key=row.id,
            recipient=supporter.email or "",
            compiled=version,
            personal=links.personal(supporter, language=language, delivery_id=row.id),
            variant="B" if "B" in version.subjects and row.supporter_id % 2 else "A",
            bounce_to=verp_sender(row.id),
        )


def _language(supporter: Supporter) -> str:
    return supporter.language if supporter.language in ("nl", "en") else "nl"


def deliveries_send(delivery_ids: list[int], *, transport: Transport | None = None) -> SendOutcome:
    """Send the rows of a batch that are still queued; rows another worker holds are left."""
    outcome = SendOutcome()
    claimed_at = timezone.now()
    rows = _claim(delivery_ids, claimed_at)
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
    handed: set[int] = set()  # given to the transport: its envelope may be on the wire
    marks = _SentMarks()
    last_beat = time.monotonic()

    def heartbeat() -> None:
        # Still alive: the sweeper only takes rows whose claim stopped being renewed, so a
        # slow batch is never sent twice. And still wanted: consent and suppression are read
        # again for the rows not handed over yet (invariant 4: an unsubscribe stops a running
        # batch within seconds, not at its end).
        nonlocal claimed_at, last_beat
        if time.monotonic() - last_beat < _HEARTBEAT_SECONDS:
            return
        marks.wait()
        now = timezone.now()
        _renew_claim(list(pending.values()), claimed_at, now)
        claimed_at, last_beat = now, time.monotonic()
        _skip_lost_consent(pending, handed, outcome)

    def hand_over(row_id: int) -> bool:
        if row_id not in pending:  # skipped by the re-check
            return False
        handed.add(row_id)
        return True

    def before_content() -> None:
        # The previous message's mark is confirmed before the next content goes out: a lost
        # database stops the batch with one message unaccounted for, not two (invariant 5).
        # After a stall (a slow server, a long rate-limit wait) the claim is renewed first, so
        # content never goes out for a row the sweeper has taken back meanwhile.
        marks.wait()
        heartbeat()

    if isinstance(transport, SmtpTransport):
        transport.before_content = before_content

    # Marks are many small commits: do not wait for each WAL flush. A database crash could
    # forget the last few hundred milliseconds of marks (a repeat, same Message-ID); a worker
    # crash cannot, the server already has them, nor can a restart (a clean shutdown writes
    # them out first). Reset before the connection serves other work. Behind a transaction
    # pooler each mark sets it for itself instead (_SentMarks).
    if not settings.DB_TRANSACTION_POOLING:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")
    try:
        transport.open()
        letters = _letters(rows, supporters, compiled, limiter, heartbeat, hand_over)
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
                _mark_temporary(row, letter.recipient, f"{reply.code} {reply.text}", outcome)
            else:
                _mark_permanent(row, letter.recipient, reply, outcome)
        marks.wait()
        outage.recovered("mail server")  # it answered the whole batch
    except ClaimLost as exc:
        # Stalled past the sweeper's timeout: the rows left belong to whoever holds them now.
        marks.wait()
        log.warning("mailing.claim_lost", error=str(exc), left=len(pending))
    except OSError as exc:  # TransportLost, refused connection, timeouts (smtplib's too)
        # The server went away: the rows without a reply go back for a later attempt, without
        # spending one (no reply, no attempt), so an outage of any length loses nothing.
        marks.wait()
        left = list(pending.values())
        outcome.released += _release(
            left, delay_seconds=settings.MAILING_CONNECT_RETRY_SECONDS, error=str(exc) or repr(exc)
        )
        for owner, message_ids in _owners(left, messages).items():
            outage.waiting(
                "mail server",
                owner,
                count=partial(_unsent, message_ids),  # read only when the warning is due
                unit="recipients",
                key="unsent",
                error=str(exc)[:300],
            )
    except Exception as exc:
        # Anything unexpected, a lost database too: rows not yet tried go back; the sent ones
        # stay sent. With the database gone they cannot: the sweeper takes them back once
        # their claim is stale, and the task retries itself (worker.retry).
        _release_after_error(list(pending.values()), marks, exc)
        raise
    finally:
        transport.close()
        _synchronous_commit_default()
    log.info(
        "mailing.batch_sent",
        sent=outcome.sent,
        skipped=outcome.skipped,
        retried=outcome.retried,
        failed=outcome.failed,
    )
    return outcome


def _owners(rows: list[Row], messages: dict[int, Message]) -> dict[str, set[int]]:
    """Whom an outage holds up, in staff's terms ("mailing 12", "sequence step 3"): each with
    its messages among these rows."""
    owners: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        message = messages[row.message_id]
        if message.mailing_id is not None:
            owners[f"mailing {message.mailing_id}"].add(message.pk)
        else:
            owners[f"sequence step {message.step_id}"].add(message.pk)
    return owners


def _unsent(message_ids: set[int]) -> int:
    """Recipients of these messages still waiting: the whole of a mailing an outage holds up,
    not only the batch that found the server away."""
    return Delivery.objects.filter(
        message_id__in=message_ids, state__in=[Delivery.State.QUEUED, Delivery.State.SENDING]
    ).count()


# Tries over ~8 s to record a broken batch's last mark and put its unsent rows back: a database
# restart is usually over by then, and then nothing repeats. After that the sweeper takes the
# rows back once their claim is stale (and the one unrecorded message repeats).
_RELEASE_TRIES = 5


def _release_after_error(rows: list[Row], marks: _SentMarks, error: Exception) -> None:
    for _ in range(_RELEASE_TRIES):
        try:
            marks.wait()
            marks.confirm_lost()
            _release(rows)
            return
        except _DATABASE_LOST as exc:
            lost = exc
            if connection.in_atomic_block:
                break
            connection.close()  # a new connection for the next try
            time.sleep(2)
    # Said once per interval by the task's retry (worker.retry), not per batch.
    log.info("mailing.release_failed", rows=len(rows), error=str(lost)[:300], cause=str(error))


def _synchronous_commit_default() -> None:
    if settings.DB_TRANSACTION_POOLING:
        return  # never set for the session (see deliveries_send)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO DEFAULT")
    except _DATABASE_LOST:
        pass  # the session is gone, and with it the setting: a new one starts at the default
