"""Results of a mailing or a sequence step: what happened after the send, as counts per stage.

The send ledger says what went out; what came after is read from where it is recorded:
bounces in the suppression table (keyed by address hash, dated), complaints in Complaint rows
(each about one email: mailing/complaints.py), unsubscribes
in the consent rows, clicks in the tracked-link redirect's Click rows (people who followed at
least one link; link scanners are never recorded), gifts in GiftAttribution (the signed source
token of the email's donate link, with the amount the donation_succeeded event told) net of the
GiftReversal rows the donation_reversed event brings (refunds and disputes). Mailing's own tables
only: donations/ tells, through campaign's events, and is never read from here (DESIGN.md).
"Delivered" is accepted by the receiving server and not bounced within AFTER_SEND.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate

from campaign.models import Consent
from mailing.models import (
    Click,
    Complaint,
    Delivery,
    Enrollment,
    GiftAttribution,
    GiftReversal,
    Message,
    Suppression,
)
from mailing.selectors import EmailHash
from mailing.services import AMSTERDAM

# "Euros" add up gifts in euros only: another currency's cents are not euro cents.
EURO = "eur"


@dataclass(frozen=True)
class Funnel:
    sent: int
    delivered: int
    clicked: int
    bounced: int
    complained: int
    unsubscribed: int
    gave: int
    euros_cents: int


@dataclass(frozen=True)
class Day:
    day: date
    gifts: int
    euros_cents: int


# A bounce, complaint or unsubscribe is credited to an email when it came within this long after
# it was sent: without a bound, one unsubscribe in June would count against every earlier email.
AFTER_SEND = timedelta(days=7)


def _suppressed_after_send(reason: str) -> Exists:
    return Exists(
        Suppression.objects.filter(
            email_hash=EmailHash(OuterRef("supporter__email")),
            reason=reason,
            created_at__gte=OuterRef("sent_at"),
            created_at__lt=OuterRef("sent_at") + AFTER_SEND,
        )
    )


def _unsubscribed_after_send() -> Exists:
    return Exists(
        Consent.objects.filter(
            supporter_id=OuterRef("supporter_id"),
            topic=OuterRef("message__topic"),
            withdrawn_at__gte=OuterRef("sent_at"),
            withdrawn_at__lt=OuterRef("sent_at") + AFTER_SEND,
        )
    )


def _gifts(message_ids: Iterable[int]) -> QuerySet[GiftAttribution]:
    """Gifts credited to these messages, each with `net`: its amount less what refunds and
    disputes took back (plus what a won dispute brought back). A gift counts as given once
    its money arrived, whatever came after; only its euros are netted."""
    reversed_cents = (
        GiftReversal.objects.filter(
            donation_id=OuterRef("donation_id"), currency=OuterRef("currency")
        )
        .values("donation_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return GiftAttribution.objects.filter(message_id__in=list(message_ids)).annotate(
        net=F("amount") - Coalesce(Subquery(reversed_cents), 0)
    )


def _euros_net() -> Sum:
    return Sum("net", filter=Q(currency=EURO))


def funnel(messages: QuerySet[Message]) -> Funnel:
    ids = list(messages.values_list("pk", flat=True))
    sent = Delivery.objects.filter(message_id__in=ids, state=Delivery.State.SENT)
    counts = sent.aggregate(
        sent=Count("pk"),
        bounced=Count("pk", filter=Q(_suppressed_after_send(Suppression.Reason.HARD_BOUNCE))),
        # Complaints about this very email (mailing/complaints.py), not any the address made.
        complained=Count(
            "pk", filter=Q(Exists(Complaint.objects.filter(delivery_id=OuterRef("pk"))))
        ),
        unsubscribed=Count("pk", filter=Q(_unsubscribed_after_send())),
        # People, not clicks: a delivery counts once however many links were followed.
        clicked=Count("pk", filter=Q(Exists(Click.objects.filter(delivery_id=OuterRef("pk"))))),
    )
    gifts = _gifts(ids).aggregate(
        # People, as for clicks: one email's reader who gave twice gave once here. A credit
        # whose send-ledger row is gone (delivery NULL) counts as a person of its own.
        people=Count("delivery_id", distinct=True) + Count("pk", filter=Q(delivery_id=None)),
        cents=_euros_net(),
    )
    return Funnel(
        sent=counts["sent"],
        delivered=counts["sent"] - counts["bounced"],
        clicked=counts["clicked"],
        bounced=counts["bounced"],
        complained=counts["complained"],
        unsubscribed=counts["unsubscribed"],
        gave=gifts["people"],
        euros_cents=gifts["cents"] or 0,
    )


def gifts_per_day(messages: QuerySet[Message]) -> list[Day]:
    """Gifts the email brought, per day (Europe/Amsterdam) their money arrived; euros net."""
    ids = list(messages.values_list("pk", flat=True))
    rows = (
        _gifts(ids)
        .annotate(day=TruncDate("created_at", tzinfo=AMSTERDAM))
        .values("day")
        .annotate(n=Count("pk"), cents=_euros_net())
        .order_by("day")
    )
    return [Day(day=r["day"], gifts=r["n"], euros_cents=r["cents"] or 0) for r in rows]


@dataclass(frozen=True)
class Enrolment:
    """Where the people of a sequence are: still in it (and at which step they wait), or out
    of it and why; and when the next email falls due."""

    active: int
    waiting: dict[int, int]  # step position -> people whose next email is that step
    exited: dict[str, int]  # exit reason -> people
    next_due: datetime | None  # the earliest due_at of those still in it (UTC)


def sequence_enrolment(sequence_id: int) -> Enrolment:
    rows = Enrollment.objects.filter(sequence_id=sequence_id)
    active = rows.filter(exited_at__isnull=True)
    waiting = dict(
        active.values("next_position")
        .annotate(n=Count("pk"))
        .order_by("next_position")
        .values_list("next_position", "n")
    )
    exited = dict(
        rows.filter(exited_at__isnull=False)
        .values("exit_reason")
        .annotate(n=Count("pk"))
        .order_by("exit_reason")
        .values_list("exit_reason", "n")
    )
    return Enrolment(
        active=sum(waiting.values()),
        waiting=waiting,
        exited=exited,
        next_due=active.aggregate(first=Min("due_at"))["first"],
    )
