"""Telling the other sides about gifts, through the events campaign/ defines."""

from __future__ import annotations

import structlog
from django.db import transaction

from campaign.events import donation_succeeded
from donations.models import Donation, TransactionKind

log = structlog.get_logger(__name__)


def gift_recorded(donation: Donation) -> None:
    """Send donation_succeeded inside the gift's transaction (mailing ends appeals, starts the
    first-gift series and credits the email that brought it); see campaign/events.py."""
    first_gift = (
        donation.supporter_id is None
        or not Donation.objects.filter(
            supporter_id=donation.supporter_id, transactions__kind=TransactionKind.GIFT
        )
        .exclude(pk=donation.pk)
        .exists()
    )
    payload = {
        "donation_id": donation.pk,
        "supporter_id": donation.supporter_id,
        "source_token": donation.source_token,
        "first_gift": first_gift,
        "frequency": donation.frequency,
    }
    try:
        with transaction.atomic():
            donation_succeeded.send(sender=Donation, **payload)
    except Exception:
        # The gift stands: its credit to an email is what is lost, and this says so loudly.
        log.exception("donations.gift_event_failed", donation_id=donation.pk)
