"""Reactions to campaign events; campaign/ and donations/ never import mailing/."""

from __future__ import annotations

from typing import Any

import structlog
from django.db import transaction

from campaign import events
from mailing import services
from mailing.models import Enrollment, Sequence

log = structlog.get_logger(__name__)


def _tick_soon() -> None:
    """Step 1 of a welcome sequence goes out at once, not at the next periodic tick. If the
    publish fails the periodic tick picks the enrolment up anyway."""
    from worker.celery_app import app

    try:
        app.send_task("mailing.tasks.tick")
    except Exception as exc:  # noqa: BLE001 - the broker may be down; the beat tick covers it
        log.warning("mailing.tick_publish_failed", error=str(exc))


def on_supporter_confirmed(
    sender: Any, supporter_id: int, topics: list[str], first_time: bool = False, **kwargs: Any
) -> None:
    enrolled = services.sequences_enrol(
        trigger=Sequence.Trigger.CONFIRMED, supporter_id=supporter_id, topics=topics
    )
    if enrolled:
        transaction.on_commit(_tick_soon)


def on_donation_succeeded(sender: Any, **gift: Any) -> None:
    """A gift (campaign/events.py's donation_succeeded kwargs): credited as a batch of one."""
    on_donations_succeeded(sender, gifts=[gift])


def on_donations_succeeded(sender: Any, gifts: list[dict[str, Any]], **kwargs: Any) -> None:
    """Gifts told together (donations_succeeded), credited in one statement."""
    credits = [
        services.GiftCredit(
            donation_id=gift["donation_id"],
            supporter_id=gift["supporter_id"],
            source=gift.get("source_token", ""),
            first_gift=gift.get("first_gift", False),
            frequency=gift.get("frequency", ""),
            amount=gift["amount"],
            currency=gift["currency"],
        )
        for gift in gifts
    ]
    services.gifts_record(credits)
    if any(c.first_gift and c.supporter_id is not None for c in credits):
        transaction.on_commit(_tick_soon)


def on_donation_reversed(
    sender: Any,
    donation_id: int,
    reversal: str,
    kind: str,
    amount: int,
    currency: str,
    **kwargs: Any,
) -> None:
    services.gift_reversal_record(
        donation_id=donation_id, reversal=reversal, kind=kind, amount=amount, currency=currency
    )


def on_supporter_unsubscribed(sender: Any, supporter_id: int, **kwargs: Any) -> None:
    services.enrollments_exit(supporter_id=supporter_id, reason=Enrollment.ExitReason.UNSUBSCRIBED)


def on_supporter_erased(sender: Any, supporter_id: int, **kwargs: Any) -> None:
    # Inside the erase transaction: if this fails, the erasure rolls back (campaign/events.py).
    services.enrollments_exit(supporter_id=supporter_id, reason=Enrollment.ExitReason.ERASED)


def connect() -> None:
    uid = "mailing.receivers"
    events.supporter_confirmed.connect(on_supporter_confirmed, dispatch_uid=f"{uid}.confirmed")
    events.gifts_connect(
        on_donation_succeeded, together=on_donations_succeeded, dispatch_uid=f"{uid}.donation"
    )
    events.donation_reversed.connect(on_donation_reversed, dispatch_uid=f"{uid}.reversed")
    events.supporter_unsubscribed.connect(
        on_supporter_unsubscribed, dispatch_uid=f"{uid}.unsubscribed"
    )
    events.supporter_erased.connect(on_supporter_erased, dispatch_uid=f"{uid}.erased")
