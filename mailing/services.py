"""Writes: scheduling, enrolment, the fan-out tick, dispatching, sweeping, suppression, gifts.

Each periodic step is idempotent and claims its work with FOR UPDATE SKIP LOCKED, so two beat
processes (or two ticks overlapping) never fan out or dispatch the same thing twice.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation

from campaign.tokens import LinkSigner, link_signer
from mailing.engagement import engaged_sql, hash_joined, sunset_applies, sunset_cutoff
from mailing.models import (
    LANGUAGES,
    Delivery,
    Enrollment,
    Mailing,
    Message,
    Sequence,
    SequenceStep,
    Suppression,
)
from mailing.segments import SegmentFilter
from mailing.selectors import STOPPING_EXITS, email_hash, recipients, recipients_among

log = structlog.get_logger(__name__)

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
SOURCE_SALT = "mailing.source"
SEND_TASK = "mailing.tasks.deliveries_send"
# --- Content -----------------------------------------------------------------------------------


def _story_url(slug: str, language: str) -> str:
    with translation.override(language):
        return settings.SITE_URL + reverse("campaign:story", kwargs={"slug": slug})


def message_snapshot(source: Mailing | SequenceStep) -> dict[str, Any]:
    """Everything rendering needs, per language, frozen into the Message row."""
    story = source.story
    languages: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        own_title = isinstance(source, Mailing) and source.title_nl
        languages[language] = {
            "subject": source.localized("subject", language),
            "subject_b": source.localized("subject_b", language) if source.subject_b_nl else "",
            "preheader": source.localized("preheader", language),
            "title": source.localized("title", language)
            if own_title or story is None
            else story.localized("title", language),
            "body": source.localized("body", language)
            if isinstance(source, Mailing) and source.body_nl
            else (story.localized("body", language) if story else ""),
            "story_url": _story_url(story.slug, language) if story else "",
        }
    # An illustrative (composite) story says so wherever it is told, as its web page does.
    return {"languages": languages, "illustrative": bool(story and story.is_illustrative)}


def message_current(source: Mailing | SequenceStep) -> Message:
    """The newest version of a mailing's or step's content, made on first use."""
    owner: dict[str, Any] = {"mailing": source} if isinstance(source, Mailing) else {"step": source}
    message = Message.objects.filter(**owner).order_by("-version").first()
    if message is not None:
        return message
    topic = source.topic if isinstance(source, Mailing) else source.sequence.topic
    return Message.objects.create(
        **owner, version=1, topic=topic, story=source.story, content=message_snapshot(source)
    )


# --- Mailings ------------------------------------------------------------------------------


def local_send_time(day: date, at: time) -> datetime:
    """A wall-clock time in Europe/Amsterdam as one aware instant, safe across DST changes.

    A time that does not exist (spring forward, 02:30 on the last Sunday of March) moves forward
    to the same distance after the gap (03:30); a time that happens twice (autumn, 02:30 on
    the last Sunday of October) is the first one. Either way it is one instant: it fires once.
    """
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=AMSTERDAM, fold=0)
    round_trip = aware.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(AMSTERDAM)
    if round_trip.replace(tzinfo=None) != naive:
        # Non-existent local time: zoneinfo resolved it with the pre-gap offset already.
        return round_trip
    return aware


@transaction.atomic
def mailing_schedule(
    *, mailing_id: int, send_at: datetime, include_sunset: bool | None = None
) -> Mailing:
    """`include_sunset`: also send to those the sunset rule leaves out (None: as it was)."""
    mailing = Mailing.objects.select_for_update().get(pk=mailing_id)
    if mailing.state not in (Mailing.State.DRAFT, Mailing.State.SCHEDULED):
        raise ValueError(f"cannot schedule a mailing that is {mailing.state}")
    if timezone.is_naive(send_at):
        raise ValueError("send_at must be aware; use local_send_time() for a local time")
    mailing.send_at = send_at
    mailing.state = Mailing.State.SCHEDULED
    if include_sunset is not None:
        mailing.include_sunset = include_sunset
    mailing.save(update_fields=["send_at", "state", "include_sunset"])
    return mailing


@transaction.atomic
def mailing_pause(*, mailing_id: int) -> Mailing:
    """Stops dispatching; batches already running put their rows back (sending.py)."""
    mailing = Mailing.objects.select_for_update().get(pk=mailing_id)
    if mailing.state in (Mailing.State.SCHEDULED, Mailing.State.SENDING):
        mailing.state = Mailing.State.PAUSED
        mailing.save(update_fields=["state"])
    return mailing


@transaction.atomic
def mailing_resume(*, mailing_id: int, waive_complaint_stop: bool = False) -> Mailing:
    """Back to sending (ledger exists) or scheduled; the unique ledger rules out duplicates.

    A mailing stopped for its complaint rate (mailing/complaints.py) resumes only when staff
    waive that stop deliberately; it then does not stop for complaints again."""
    mailing = Mailing.objects.select_for_update().get(pk=mailing_id)
    stopped = mailing.stopped_reason == Mailing.StopReason.COMPLAINTS
    if mailing.state == Mailing.State.PAUSED and (waive_complaint_stop or not stopped):
        fanned_out = mailing.fanned_out_at is not None
        mailing.state = Mailing.State.SENDING if fanned_out else Mailing.State.SCHEDULED
        if stopped:
            mailing.complaint_stop_waived = True
            log.warning(
                "mailing.complaint_stop_waived",
                mailing_id=mailing.pk,
                detail=mailing.stopped_detail,
            )
        mailing.stopped_reason = ""
        mailing.save(update_fields=["state", "stopped_reason", "complaint_stop_waived"])
        Delivery.objects.filter(message__mailing=mailing, state=Delivery.State.QUEUED).update(
            dispatched_at=None
        )
    return mailing


@transaction.atomic
def mailing_cancel(*, mailing_id: int) -> Mailing:
    mailing = Mailing.objects.select_for_update().get(pk=mailing_id)
    if mailing.state in (Mailing.State.FINISHED, Mailing.State.CANCELLED):
        return mailing
    mailing.state = Mailing.State.CANCELLED
    mailing.finished_at = timezone.now()
    mailing.save(update_fields=["state", "finished_at"])
    Delivery.objects.filter(message__mailing=mailing, state=Delivery.State.QUEUED).update(
        state=Delivery.State.SKIPPED, reason=Delivery.Reason.CANCELLED
    )
    return mailing


def _ledger_insert(
    message_id: int,
    supporter_sql: tuple[str, tuple[Any, ...]],
    *,
    fresh: bool = False,
    engaged: tuple[str, list[Any]] | None = None,
) -> int:
    """One server-side INSERT ... SELECT: no row passes through Python (1M rows in seconds).

    `fresh`: the message has no rows yet and its owner is locked, so nobody else inserts for it.
    Then the insert skips ON CONFLICT (speculative insertion costs ~40% more per row, measured
    with bench/fanout.py); the unique constraint still stands guard and would roll back.
    `engaged`: the sunset rule's supporter ids (mailing/engagement.py); the others get a row
    skipped for it, so the results say how many it left out.
    """
    sql, params = supporter_sql
    table = Delivery._meta.db_table
    conflict = "" if fresh else " ON CONFLICT (message_id, supporter_id) DO NOTHING"
    columns, values, join = "", "", ""
    join_params: list[Any] = []
    if engaged is not None:
        columns = ", state, reason"
        values = (
            ", CASE WHEN e.supporter_id IS NULL THEN 'skipped' ELSE 'queued' END"
            f", CASE WHEN e.supporter_id IS NULL THEN '{Delivery.Reason.SUNSET}' ELSE '' END"
        )
        join = f" LEFT JOIN ({engaged[0]}) e ON e.supporter_id = r.id"
        join_params = engaged[1]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (message_id, supporter_id{columns}) "  # noqa: S608 - ours
            f"SELECT %s, r.id{values} FROM ({sql}) r{join}{conflict}",
            [message_id, *params, *join_params],
        )
        return cursor.rowcount


def mailing_fan_out(mailing: Mailing) -> int:
    """Create the ledger of a claimed mailing (call inside the claiming transaction)."""
    message = message_current(mailing)
    segment = mailing.segment.parsed if mailing.segment else SegmentFilter()
    # No ORDER BY (Supporter's default sorts by created_at): rows come in table order, which
    # keeps the ledger's indexes filling at their right-hand edge.
    query = recipients(segment=segment, topic=mailing.topic).order_by().values_list("id")
    cutoff = sunset_cutoff(timezone.now()) if sunset_applies(mailing) else None
    fresh = not Delivery.objects.filter(message=message).exists()
    with hash_joined() if cutoff is not None else nullcontext():
        created = _ledger_insert(
            message.pk,
            query.query.sql_with_params(),
            fresh=fresh,
            engaged=engaged_sql(cutoff) if cutoff is not None else None,
        )
    log.info("mailing.fanned_out", mailing_id=mailing.pk, message_id=message.pk, rows=created)
    return created


def mailings_fan_out(now: datetime) -> list[int]:
    """Claim due mailings (SKIP LOCKED: a concurrent tick takes others or none) and fan out."""
    done: list[int] = []
    while True:
        with transaction.atomic():
            mailing = (
                Mailing.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state=Mailing.State.SCHEDULED, send_at__lte=now)
                .select_related("segment")
                .order_by("send_at")
                .first()
            )
            if mailing is None:
                return done
            if mailing.fanned_out_at is None:
                mailing_fan_out(mailing)
                mailing.fanned_out_at = now
            mailing.state = Mailing.State.SENDING
            mailing.save(update_fields=["state", "fanned_out_at"])
        done.append(mailing.pk)


# --- Sequences ---------------------------------------------------------------------------------


def enrollment_start(*, sequence: Sequence, supporter_id: int, now: datetime) -> bool:
    """Enrol unless already in it; step 1 falls due after its own delay (often at once)."""
    first = sequence.steps.order_by("position").first()
    if first is None:
        return False
    with connection.cursor() as cursor:
        # The partial unique index makes a second open enrolment a no-op (signals may repeat).
        cursor.execute(
            f"INSERT INTO {Enrollment._meta.db_table} "  # noqa: S608 - table name is ours
            "(sequence_id, supporter_id, next_position, due_at, enrolled_at, exit_reason) "
            "VALUES (%s, %s, %s, %s, %s, '') "
            "ON CONFLICT (sequence_id, supporter_id) WHERE exited_at IS NULL DO NOTHING",
            [sequence.pk, supporter_id, first.position, now + first.delay, now],
        )
        return cursor.rowcount == 1


def sequences_enrol(*, trigger: str, supporter_id: int, topics: Iterable[str] | None = None) -> int:
    now = timezone.now()
    sequences = Sequence.objects.filter(trigger=trigger, is_active=True)
    if topics is not None:
        sequences = sequences.filter(topic__in=list(topics))
    return sum(
        enrollment_start(sequence=sequence, supporter_id=supporter_id, now=now)
        for sequence in sequences
    )


def enrollments_exit(*, supporter_id: int, reason: str, only_ending_on_gift: bool = False) -> int:
    open_rows = Enrollment.objects.filter(supporter_id=supporter_id, exited_at__isnull=True)
    if only_ending_on_gift:
        open_rows = open_rows.filter(sequence__ends_on_gift=True)
    return open_rows.update(exited_at=timezone.now(), exit_reason=reason, due_at=None)


def enrollments_fan_out(now: datetime, *, limit: int = 5000) -> int:
    """Claim due enrolments, create their step's ledger rows, and move them to the next step."""
    created = 0
    with transaction.atomic():
        due = list(
            Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(exited_at__isnull=True, due_at__lte=now, sequence__is_active=True)
            .order_by("due_at")[:limit]
            .values_list("pk", "sequence_id", "next_position", "supporter_id")
        )
        groups: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for pk, sequence_id, position, supporter_id in due:
            groups[(sequence_id, position)].append((pk, supporter_id))
        steps = {
            (step.sequence_id, step.position): step
            for step in SequenceStep.objects.filter(
                sequence_id__in={key[0] for key in groups}
            ).select_related("sequence", "story")
        }
        for (sequence_id, position), members in groups.items():
            enrollment_ids = [pk for pk, _ in members]
            step = steps.get((sequence_id, position))
            if step is not None:
                message = message_current(step)
                query = (
                    recipients_among(
                        supporter_ids=[s for _, s in members], topic=step.sequence.topic
                    )
                    .order_by()
                    .values_list("id", flat=True)
                )
                created += _ledger_insert(message.pk, query.query.sql_with_params())
            following = min(
                (s for (q, p), s in steps.items() if q == sequence_id and p > position),
                key=lambda s: s.position,
                default=None,
            )
            rows = Enrollment.objects.filter(pk__in=enrollment_ids)
            if following is None:
                rows.update(exited_at=now, exit_reason=Enrollment.ExitReason.COMPLETED, due_at=None)
            else:
                rows.update(next_position=following.position, due_at=now + following.delay)
    return created


# --- Dispatching, finishing, sweeping --------------------------------------------------------


# Two looks, each served by its own partial index (Delivery.Meta): rows published before
# `stale` and still queued (lost, they have waited longest) and rows never published. Rows of
# a paused mailing are queued and not published: passed over (and read) until it resumes.
_DISPATCH_SQL = """
WITH unpublished AS (
    SELECT d2.id FROM {delivery} d2
    JOIN {message} m ON m.id = d2.message_id
    LEFT JOIN {mailing} ml ON ml.id = m.mailing_id
    WHERE d2.state = 'queued' AND d2.dispatched_at IS NULL
      AND (d2.next_attempt_at IS NULL OR d2.next_attempt_at <= %(now)s)
      AND (m.step_id IS NOT NULL OR ml.state = 'sending')
    ORDER BY d2.id
    LIMIT %(limit)s
    FOR UPDATE OF d2 SKIP LOCKED
), lost AS (
    SELECT d2.id FROM {delivery} d2
    JOIN {message} m ON m.id = d2.message_id
    LEFT JOIN {mailing} ml ON ml.id = m.mailing_id
    WHERE d2.state = 'queued' AND d2.dispatched_at IS NOT NULL
      AND d2.dispatched_at < %(stale)s
      AND (d2.next_attempt_at IS NULL OR d2.next_attempt_at <= %(now)s)
      AND (m.step_id IS NOT NULL OR ml.state = 'sending')
    ORDER BY d2.dispatched_at
    LIMIT %(limit)s
    FOR UPDATE OF d2 SKIP LOCKED
)
UPDATE {delivery} d SET dispatched_at = %(now)s
WHERE d.id = ANY(ARRAY(SELECT id FROM lost UNION ALL SELECT id FROM unpublished LIMIT %(limit)s))
RETURNING d.id, (d.orphaned > 0 OR d.attempts > 0 OR d.last_error <> ''), d.message_id
"""


def dispatch_sql() -> str:
    """_DISPATCH_SQL with our table names (parameters: now, stale, limit)."""
    return _DISPATCH_SQL.format(
        delivery=Delivery._meta.db_table,
        message=Message._meta.db_table,
        mailing=Mailing._meta.db_table,
    )


# A mailing's first batches go out at a lower priority than rows coming back (their batch died,
# the mail server was away, a 4xx): those then go ahead of the big backlog a mailing puts in
# the broker instead of waiting behind all of it. (Redis serves priority 0 first.)
FIRST_TRY_PRIORITY = 3


def _publish(batch: list[int], *, again: bool, owner: str) -> None:
    from worker.celery_app import app

    app.send_task(
        SEND_TASK,
        args=[batch],
        kwargs={"owner": owner},
        priority=None if again else FIRST_TRY_PRIORITY,
    )


def _owners(message_ids: set[int]) -> dict[int, str]:
    """Each message's owner in staff's terms, "mailing 12" or "sequence step 3": a batch carries
    it, so an outage warning can say whom it holds up even when it cannot read the database."""
    owners = Message.objects.filter(pk__in=message_ids).values_list("pk", "mailing_id", "step_id")
    return {
        pk: f"mailing {mailing_id}" if mailing_id else f"sequence step {step_id}"
        for pk, mailing_id, step_id in owners
    }


def _send_tasks_waiting() -> bool:
    """Whether the broker holds send tasks not yet taken by a worker (True when unsure)."""
    from kombu.exceptions import ChannelError

    from worker.celery_app import app
    from worker.routing import MAIL_QUEUE

    try:
        with app.connection_for_read() as conn:
            channel: Any = conn.default_channel  # kombu's virtual channel (Redis)
            declared = channel.queue_declare(queue=MAIL_QUEUE, passive=True)
            return bool(declared.message_count)
    except ChannelError:  # no such queue: Redis was flushed or restarted empty
        return False
    except Exception as exc:  # noqa: BLE001 - broker down: publishing would fail anyway
        log.info("mailing.broker_unreachable", error=str(exc)[:300])
        return True


def deliveries_dispatch(now: datetime) -> int:
    """Publish send tasks for queued rows never published, or published a while ago and still
    queued although no send task waits in the broker (Redis flushed or restarted empty, a task
    that failed for good). Returns rows published.

    Rows published recently may still be waiting in the broker behind other batches, so they
    count as lost only once the mail queue is empty, MAILING_REDISPATCH_SECONDS after their
    publish; ten times that later they are published again in any case (a repeat is harmless:
    a batch sends only the rows it can claim)."""
    lost_after = settings.MAILING_REDISPATCH_SECONDS
    if _send_tasks_waiting():
        lost_after *= 10
    stale = now - timedelta(seconds=lost_after)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            dispatch_sql(), {"now": now, "stale": stale, "limit": settings.MAILING_DISPATCH_LIMIT}
        )
        rows = cursor.fetchall()
    size = settings.MAILING_BATCH_SIZE
    owners = _owners({message_id for _, _, message_id in rows})
    # Batches of one owner each: rows coming back first, then in id order.
    groups: dict[tuple[bool, str], list[int]] = defaultdict(list)
    for row_id, came_back, message_id in sorted(rows, key=lambda r: (not r[1], r[0])):
        groups[(came_back, owners[message_id])].append(row_id)
    batches = [
        (ids[i : i + size], again, owner)
        for (again, owner), ids in groups.items()
        for i in range(0, len(ids), size)
    ]
    for index, (batch, again, owner) in enumerate(batches):
        try:
            _publish(batch, again=again, owner=owner)
        except Exception as exc:  # noqa: BLE001 - broker down: the rows wait for the next tick
            unpublished = [i for rest, _, _ in batches[index:] for i in rest]
            Delivery.objects.filter(pk__in=unpublished, state=Delivery.State.QUEUED).update(
                dispatched_at=None
            )
            log.warning("mailing.dispatch_failed", rows=len(unpublished), error=str(exc))
            return sum(len(b) for b, _, _ in batches[:index])
    return len(rows)


def mailings_finish(now: datetime) -> int:
    """Sending -> finished once no row is queued or in flight (never while mail is unsent)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Mailing._meta.db_table} ml SET state = 'finished', finished_at = %s
            WHERE ml.state = 'sending' AND NOT EXISTS (
                SELECT 1 FROM {Delivery._meta.db_table} d
                JOIN {Message._meta.db_table} m ON m.id = d.message_id
                WHERE m.mailing_id = ml.id AND d.state IN ('queued', 'sending')
            )
            """,  # noqa: S608 - table names are ours
            [now],
        )
        return cursor.rowcount


def deliveries_sweep(now: datetime) -> int:
    """Rows of dead batches go back to `queued`; returns how many.

    A live batch renews its claim every 2 s (sending.py), so a claim older than
    MAILING_SENDING_TIMEOUT_SECONDS means the batch died (worker killed, database or broker lost
    under it). A row whose batch died MAILING_MAX_ORPHANED times fails (worker_lost): a message
    that kills its worker every time must not loop for ever. Rows of a cancelled mailing are
    skipped instead, whether a dead batch held them or a live one put them back, so a cancelled
    mailing never keeps a row `queued` or `sending`.
    """
    cutoff = now - timedelta(seconds=settings.MAILING_SENDING_TIMEOUT_SECONDS)
    stuck = Delivery.objects.filter(state=Delivery.State.SENDING, claimed_at__lt=cutoff)
    # Rows come back `queued` after a cancel only from batches running at that moment (a dead
    # one's rows here, a live one's when the mail server went away), so within the hour.
    recently_cancelled = Mailing.objects.filter(
        state=Mailing.State.CANCELLED, finished_at__gte=now - timedelta(hours=1)
    )
    skip = {
        "state": Delivery.State.SKIPPED,
        "reason": Delivery.Reason.CANCELLED,
        "claimed_at": None,
    }
    cancelled = stuck.filter(message__mailing__state=Mailing.State.CANCELLED).update(**skip)
    cancelled += Delivery.objects.filter(
        state=Delivery.State.QUEUED, message__mailing__in=recently_cancelled
    ).update(**skip)
    given_up = stuck.filter(orphaned__gte=settings.MAILING_MAX_ORPHANED - 1).update(
        state=Delivery.State.FAILED,
        reason=Delivery.Reason.WORKER_LOST,
        orphaned=F("orphaned") + 1,
        claimed_at=None,
        last_error=f"its batch died {settings.MAILING_MAX_ORPHANED} times while sending it",
    )
    requeued = stuck.update(
        state=Delivery.State.QUEUED,
        orphaned=F("orphaned") + 1,
        claimed_at=None,
        dispatched_at=None,
        next_attempt_at=None,
    )
    if requeued or given_up or cancelled:
        log.warning("mailing.swept", requeued=requeued, failed=given_up, cancelled=cancelled)
    return requeued


@dataclass(frozen=True)
class TickResult:
    mailings: list[int]
    step_rows: int
    dispatched: int
    finished: int


def mailing_tick(now: datetime | None = None) -> TickResult:
    """The one periodic tick: fan out due mailings and steps, publish batches, finish."""
    now = now or timezone.now()
    mailings = mailings_fan_out(now)
    step_rows = enrollments_fan_out(now)
    dispatched = deliveries_dispatch(now)
    finished = mailings_finish(now)
    return TickResult(mailings, step_rows, dispatched, finished)


# --- Suppression, gifts ------------------------------------------------------------------------


def suppression_add(*, address: str, reason: str, detail: str = "") -> bool:
    """Idempotent: a repeated bounce or complaint event changes nothing."""
    _, created = Suppression.objects.get_or_create(
        email_hash=email_hash(address), defaults={"reason": reason, "detail": detail[:500]}
    )
    return created


def source_token(delivery_id: int) -> str:
    """Carried by donate links, so a gift is credited to the email (and step, story) that
    brought it. Signed: a made-up token credits nothing."""
    return LinkSigner(salt=SOURCE_SALT).sign(str(delivery_id))


def source_token_read(token: str) -> int | None:
    try:
        value = link_signer(token, salt=SOURCE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


# One statement for all the gifts: each delivery's message is looked up in the same INSERT,
# and a gift already credited (its events are delivered more than once) is left as it is.
_GIFTS_CREDIT = """
INSERT INTO mailing_giftattribution
    (donation_id, supporter_id, frequency, amount, currency, delivery_id, message_id, created_at)
SELECT gift.donation, gift.supporter, gift.frequency, gift.amount, gift.currency, delivery.id,
    delivery.message_id, now()
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bigint[])
    AS gift(donation, supporter, frequency, amount, currency, delivery)
LEFT JOIN mailing_delivery delivery ON delivery.id = gift.delivery
ON CONFLICT (donation_id) DO NOTHING
RETURNING donation_id
"""


@dataclass(frozen=True)
class GiftCredit:
    """A gift as donation_succeeded tells it (campaign/events.py)."""

    donation_id: int
    supporter_id: int | None
    source: str  # the signed token of the email link that brought it, or ""
    first_gift: bool
    frequency: str
    amount: int  # cents
    currency: str


def gift_record(
    *,
    donation_id: int,
    supporter_id: int | None,
    source: str,
    first_gift: bool,
    frequency: str,
    amount: int,
    currency: str,
) -> bool:
    """A gift: credit the email (with its amount, for the results), end sequences that end on
    a gift, start the donor series. Idempotent on the donation id (events may be delivered
    more than once). True when this call credited it."""
    gift = GiftCredit(donation_id, supporter_id, source, first_gift, frequency, amount, currency)
    return bool(gifts_record([gift]))


# Atomic on its own, but no savepoint of its own: donations calls it inside the savepoint it
# opens around donation_succeeded (campaign/events.py), so a second one would only cost two
# round trips per gift on the webhook drain's path.
@transaction.atomic(savepoint=False)
def gifts_record(gifts: list[GiftCredit]) -> list[GiftCredit]:
    """gift_record for several gifts (a drain batch's), credited in one statement; returns the
    gifts this call credited."""
    if not gifts:
        return []
    columns = (
        [g.donation_id for g in gifts],
        [g.supporter_id for g in gifts],
        [g.frequency for g in gifts],
        [g.amount for g in gifts],
        [g.currency.lower() for g in gifts],
        [source_token_read(g.source) if g.source else None for g in gifts],
    )
    with connection.cursor() as cursor:
        cursor.execute(_GIFTS_CREDIT, columns)
        new = {donation_id for (donation_id,) in cursor.fetchall()}
    credited: list[GiftCredit] = []
    for gift in gifts:
        if gift.donation_id in new:
            new.discard(gift.donation_id)  # told twice in one batch: credited by the first
            credited.append(gift)
    for gift in credited:
        if gift.supporter_id is None:
            continue
        enrollments_exit(
            supporter_id=gift.supporter_id,
            reason=Enrollment.ExitReason.GIFT,
            only_ending_on_gift=True,
        )
        if gift.first_gift:
            sequences_enrol(trigger=Sequence.Trigger.FIRST_GIFT, supporter_id=gift.supporter_id)
    return credited


_GIFT_REVERSAL = """
INSERT INTO mailing_giftreversal (donation_id, reversal, kind, amount, currency, created_at)
VALUES (%(donation)s, %(reversal)s, %(kind)s, %(amount)s, %(currency)s, now())
ON CONFLICT (reversal, kind) DO NOTHING
RETURNING id
"""


def gift_reversal_record(
    *, donation_id: int, reversal: str, kind: str, amount: int, currency: str
) -> bool:
    """Money a credited gift lost (a refund, a dispute) or got back (a dispute won), for the
    results' euros net. One statement, no savepoint of its own (donations sends the event in
    one); the same movement told twice is kept once. True when this call recorded it."""
    if not reversal or not kind:
        raise ValueError("a gift reversal needs the ledger movement's id and kind")
    with connection.cursor() as cursor:
        cursor.execute(
            _GIFT_REVERSAL,
            {
                "donation": donation_id,
                "reversal": reversal[:255],
                "kind": kind[:20],
                "amount": int(amount),
                "currency": currency.lower()[:3],
            },
        )
        return cursor.fetchone() is not None


def supporters_stopped_in_sequence(*, sequence_id: int, supporter_ids: Iterable[int]) -> set[int]:
    """Of these supporters, those who left the sequence for a reason that stops its emails and
    have not been enrolled again since."""
    ids = list(supporter_ids)
    stopped = set(
        Enrollment.objects.filter(
            sequence_id=sequence_id, supporter_id__in=ids, exit_reason__in=STOPPING_EXITS
        ).values_list("supporter_id", flat=True)
    )
    still_in = set(
        Enrollment.objects.filter(
            Q(sequence_id=sequence_id, supporter_id__in=stopped, exited_at__isnull=True)
        ).values_list("supporter_id", flat=True)
    )
    return stopped - still_in


def sequence_enrol_segment(*, sequence_id: int, segment: SegmentFilter) -> int:
    """Staff start a sequence for everyone in a segment who may receive its topic now, in one
    INSERT ... SELECT; those already walking through it are left where they are. Returns how
    many were enrolled. Consent and exits are checked again when each step is sent."""
    sequence = Sequence.objects.get(pk=sequence_id)
    first = sequence.steps.order_by("position").first()
    if first is None:
        raise ValueError("this sequence has no steps yet")
    now = timezone.now()
    members = recipients(segment=segment, topic=sequence.topic).values("pk")
    sql, params = members.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Enrollment._meta.db_table} "  # noqa: S608 - table name is ours
            "(sequence_id, supporter_id, next_position, due_at, enrolled_at, exit_reason) "
            f"SELECT %s, member.pk, %s, %s, %s, '' FROM ({sql}) AS member "
            "ON CONFLICT (sequence_id, supporter_id) WHERE exited_at IS NULL DO NOTHING",
            [sequence.pk, first.position, now + first.delay, now, *params],
        )
        return cursor.rowcount
