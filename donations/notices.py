"""Transactional emails to donors (thanks, SEPA pre-debit notice, dunning), each sent once.

The DonorNotice rows are the queue (as the Stripe inbox is): recording a notice only inserts
its row and, after commit, nudges a sender (worker/wake.py); the sender takes every unsent
notice over one SMTP connection, each under its own row lock. A notice that fails is retried
with backoff, its error kept on the row; a periodic run covers a lost nudge.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.utils import timezone

from campaign.mail_headers import message_id
from donations.donor_email import donor_email
from donations.models import Donation, DonorNotice, NoticeKind, RecurringDonation, StripeEvent
from worker.claims import index_order
from worker.wake import on_commit_once, wake, wake_again

log = structlog.get_logger(__name__)
SEND_TASK = "donations.tasks.notices_send"
WAKE_KEY = "donations:notices:wake"
WAKE_SECONDS = 1
# A failed notice is tried again after 1, 2, 4, ... minutes, then left for staff to see.
MAX_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 60
# Notices sent and marked per transaction: fewer round trips and commits per email. If the
# commit fails after the server took them, these few go twice (with the same Message-ID).
BATCH_SIZE = 10


# One statement whatever happened before: a notice that exists already is left as it is.
# (A plain INSERT would need a savepoint around it to survive the unique violation.)
_INSERT = """
INSERT INTO donations_donornotice (kind, key, donation_id, recurring_id, context, created_at)
VALUES (%s, %s, %s, %s, %s::jsonb, %s)
ON CONFLICT (key) DO NOTHING
RETURNING id
"""


def notice_queue(
    *,
    kind: NoticeKind,
    key: str,
    donation: Donation | None = None,
    recurring: RecurringDonation | None = None,
    context: dict[str, Any] | None = None,
) -> bool:
    """Record the notice and have it sent after commit, unless it exists already."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                str(kind),
                f"{kind}:{key}",
                donation.pk if donation is not None else None,
                recurring.pk if recurring is not None else None,
                json.dumps(context or {}),
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    on_commit_once(notices_wake)
    return True


_INSERT_ALL = """
INSERT INTO donations_donornotice (kind, key, donation_id, context, created_at)
SELECT %s, key, donation_id, '{}'::jsonb, %s FROM unnest(%s::text[], %s::bigint[])
    AS notice(key, donation_id)
ON CONFLICT (key) DO NOTHING
"""


def notices_queue_for_donations(kind: NoticeKind, donations: Sequence[Donation]) -> None:
    """notice_queue(kind=kind, key=<the donation's uuid>, donation=...) for each of the
    donations, in one statement (a drain batch's thank-you notes)."""
    if not donations:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ALL,
            [
                str(kind),
                timezone.now(),
                [f"{kind}:{donation.uuid}" for donation in donations],
                [donation.pk for donation in donations],
            ],
        )
        if cursor.rowcount:
            on_commit_once(notices_wake)


def notices_wake() -> None:
    wake(SEND_TASK, key=WAKE_KEY, seconds=WAKE_SECONDS)


def _recipient(notice: DonorNotice) -> tuple[str, str, str]:
    """(email, name, language) of the donor the notice is about."""
    owner: Donation | RecurringDonation | None = notice.donation or notice.recurring
    if owner is None:
        return "", "", "nl"
    return owner.donor_email, owner.donor_name, owner.language


def _supporter_id(notice: DonorNotice) -> int | None:
    owner: Donation | RecurringDonation | None = notice.donation or notice.recurring
    return owner.supporter_id if owner is not None else None


def notices_retry(*, notice_ids: list[int]) -> int:
    """Make unsent notices due now with a fresh set of attempts (staff, after fixing what made
    them fail); returns how many. Sent ones are left alone: nobody gets a thank-you twice."""
    count = DonorNotice.objects.filter(pk__in=notice_ids, sent_at__isnull=True).update(
        attempts=0, next_attempt_at=None
    )
    if count:
        transaction.on_commit(notices_wake)
    return count


def _due() -> Any:
    return DonorNotice.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS).exclude(
        next_attempt_at__gt=timezone.now()
    )


def notices_send(*, max_seconds: float = 5) -> int:
    """Send due notices over one connection, for at most `max_seconds`; returns how many were
    sent. Several senders may run at once: each notice is locked, skipping those taken.

    Short runs, handing over to a fresh task when time is up or when Stripe events are waiting:
    a worker process sending a long queue of thank-yous would otherwise keep the ledger
    waiting behind it. The money comes first; a thank-you a few seconds later does no harm.
    """
    started, sent, batches = time.monotonic(), 0, 0
    mailer = mail.mailers.default
    try:
        while True:
            timed_out = time.monotonic() - started >= max_seconds
            if timed_out or (batches and _stripe_events_waiting()):
                wake_again(WAKE_KEY)
                notices_wake()  # the rest in a task of its own, behind whatever is queued
                break
            outcome = _send_batch(mailer)
            if outcome is None:
                # Nothing due: let the next notice wake a sender, then look once more.
                wake_again(WAKE_KEY)
                outcome = _send_batch(mailer)
                if outcome is None:
                    break
            sent += outcome
            batches += 1
    finally:
        mailer.close()
    return sent


def _stripe_events_waiting() -> bool:
    with transaction.atomic(), index_order():  # the first waiting row, not all of them
        return StripeEvent.objects.due().exists()


def _send_batch(mailer: BaseEmailBackend) -> int | None:
    """Send the oldest due notices nobody else holds, up to BATCH_SIZE, and mark them in one
    transaction; returns how many were sent, None when none was due."""
    with transaction.atomic():
        # of=self: PostgreSQL cannot lock the nullable side of the outer joins.
        with index_order():
            notices = list(
                _due()
                .order_by("pk")
                .select_for_update(of=("self",), skip_locked=True)
                .select_related("donation", "recurring")[:BATCH_SIZE]
            )
        if not notices:
            return None
        sent = [notice.pk for notice in notices if _send_locked(notice, mailer)]
        DonorNotice.objects.filter(pk__in=sent).update(sent_at=timezone.now(), last_error="")
    return len(sent)


def _send_locked(notice: DonorNotice, mailer: BaseEmailBackend) -> bool:
    """Send a notice whose row the caller holds locked; True if the caller is to mark it sent
    (in the same transaction). A failure is kept on the row with a later attempt."""
    email, name, language = _recipient(notice)
    if not email:
        # Anonymous gift: nobody to write to. Marked so it is not tried again.
        notice.sent_at = timezone.now()
        notice.save(update_fields=["sent_at"])
        return False
    context = {
        "notice": notice,
        "donation": notice.donation,
        "recurring": notice.recurring,
        "name": name,
        "site_url": settings.SITE_URL,
        **notice.context,
    }
    try:
        message = donor_email(
            template=f"donations/email/{notice.kind}",
            context=context,
            to=email,
            language=language,
            message_id=message_id("notice", notice.pk),
            supporter_id=_supporter_id(notice),
        )
        mailer.open()  # once: the connection stays open for the sender's next notices
        mailer.send_messages([message])
    except Exception as exc:  # noqa: BLE001 - refused, disconnected, down, a broken template:
        # kept on the row and tried later, so one bad notice never holds up the others.
        _failed(notice, exc)
        mailer.close()  # the next send opens a fresh connection
        return False
    log.info("donations.notice_sent", kind=notice.kind, notice_id=notice.pk)
    return True


def _failed(notice: DonorNotice, exc: Exception) -> None:
    notice.attempts += 1
    delay = BACKOFF_BASE_SECONDS * 2 ** (notice.attempts - 1)
    notice.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    notice.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    notice.save(update_fields=["attempts", "next_attempt_at", "last_error"])
    log.warning(
        "donations.notice_failed",
        notice_id=notice.pk,
        attempts=notice.attempts,
        retry_in=delay,
        error=notice.last_error,
    )
