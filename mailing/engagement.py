"""The sunset rule: campaign mailings leave out people who have shown no sign of life in
MAILING_SUNSET_DAYS. Mailing to addresses nobody reads any more is what spam traps and
"inactive" mailbox heuristics catch, and what Gmail and Yahoo's bulk-sender rules ask senders
to stop. We keep no open pixel, so the signs of life are what a person does:

- clicked a link in one of our emails (mailing.Click; link scanners are never recorded),
- gave (mailing.GiftAttribution, the mailing side's record of every gift),
- confirmed a consent (campaign.Consent.confirmed_at: a sign-up, a re-subscribe),
- changed their preferences (campaign.SupporterAudit, by the supporter).

Only one-off mailings to a segment apply it, and never silently: the schedule page says how
many it leaves out, staff can include them per mailing (a re-engagement mailing), and the
results count them as skipped (reason "sunset"). Sequences do not: they start on the person's
own action (a confirmation, a first gift) or on staff's explicit enrolment, and transactional
mail (confirmations, thank-yous, donor notices) is never a campaign mailing. See DESIGN.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from campaign.models import Consent, Supporter, SupporterAudit
from mailing.models import Click, GiftAttribution, Mailing
from mailing.segments import SegmentFilter
from mailing.selectors import recipients


def sunset_cutoff(now: datetime) -> datetime | None:
    days = settings.MAILING_SUNSET_DAYS
    return now - timedelta(days=days) if days else None


def sunset_applies(mailing: Mailing) -> bool:
    return bool(settings.MAILING_SUNSET_DAYS) and not mailing.include_sunset


def engaged_since(cutoff: datetime) -> Q:
    """Supporters with a sign of life since `cutoff`. Each part is an uncorrelated IN, which
    PostgreSQL runs once as a hashed subplan: the fan-out's cost stays per supporter, flat."""
    clicked = Click.objects.filter(clicked_at__gte=cutoff).values("delivery__supporter_id")
    gave = GiftAttribution.objects.filter(
        created_at__gte=cutoff, supporter_id__isnull=False
    ).values("supporter_id")
    confirmed = Consent.objects.filter(confirmed_at__gte=cutoff).values("supporter_id")
    changed = SupporterAudit.objects.filter(
        created_at__gte=cutoff,
        action=SupporterAudit.Action.PREFERENCES_CHANGED,
        actor=SupporterAudit.Actor.SUPPORTER,
        supporter_id__isnull=False,
    ).values("supporter_id")
    return Q(pk__in=clicked) | Q(pk__in=gave) | Q(pk__in=confirmed) | Q(pk__in=changed)


def engaged_expression(now: datetime) -> ExpressionWrapper:
    """`engaged` as a column of a supporter query (the fan-out's INSERT ... SELECT reads it)."""
    cutoff = sunset_cutoff(now)
    condition = engaged_since(cutoff) if cutoff is not None else Q(pk__isnull=False)
    return ExpressionWrapper(condition, output_field=BooleanField())


def sunset_left_out(*, segment: SegmentFilter, topic: str, now: datetime) -> QuerySet[Supporter]:
    """Those of a segment's recipients the sunset rule would leave out now."""
    cutoff = sunset_cutoff(now)
    members = recipients(segment=segment, topic=topic)
    if cutoff is None:
        return members.none()
    return members.exclude(engaged_since(cutoff))
