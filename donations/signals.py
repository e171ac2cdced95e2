"""Telling the other sides about gifts, through the events campaign/ defines."""

from __future__ import annotations

from django.db import transaction

from campaign.events import donation_succeeded
from donations.models import Donation, TransactionKind


def gift_recorded(donation: Donation) -> None:
    """Send donation_succeeded once the gift's transaction commits (mailing ends appeals,
    starts the first-gift series and credits the email that brought it)."""
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
    transaction.on_commit(lambda: donation_succeeded.send(sender=Donation, **payload))
