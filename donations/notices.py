"""Transactional emails to donors (thanks, SEPA pre-debit notice, dunning), each sent once."""

from __future__ import annotations

import json
from typing import Any

import structlog
from django.conf import settings
from django.core import mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from donations.models import Donation, DonorNotice, NoticeKind, RecurringDonation
from worker.outbox import enqueue

log = structlog.get_logger(__name__)


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
    """Record the notice and request its sending after commit, unless it exists already."""
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
    enqueue("donations.tasks.notice_send", row[0])
    return True


def _recipient(notice: DonorNotice) -> tuple[str, str, str]:
    """(email, name, language) of the donor the notice is about."""
    owner: Donation | RecurringDonation | None = notice.donation or notice.recurring
    if owner is None:
        return "", "", "nl"
    return owner.donor_email, owner.donor_name, owner.language


def notice_send(*, notice_id: int) -> bool:
    """Send one notice; a repeated call (task retry, duplicate message) sends nothing."""
    with transaction.atomic():
        notice = (
            # of=self: PostgreSQL cannot lock the nullable side of the outer joins.
            DonorNotice.objects.select_for_update(of=("self",))
            .select_related("donation", "recurring")
            .get(pk=notice_id)
        )
        if notice.sent_at is not None:
            return False
        email, name, language = _recipient(notice)
        if not email:
            # Anonymous gift: nobody to write to. Mark it so it is not retried.
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
        with translation.override(language):
            subject = render_to_string(f"donations/email/{notice.kind}_subject.txt", context)
            text = render_to_string(f"donations/email/{notice.kind}.txt", context)
        message = mail.EmailMultiAlternatives(
            subject=" ".join(subject.split()),
            body=text,
            to=[email],
            headers={"Message-ID": f"<notice-{notice.pk}@{settings.MAILING_DOMAIN}>"},
        )
        message.send()
        notice.sent_at = timezone.now()
        notice.save(update_fields=["sent_at"])
    log.info("donations.notice_sent", kind=notice.kind, notice_id=notice.pk)
    return True
