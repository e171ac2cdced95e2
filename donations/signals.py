"""Telling the other sides about gifts, through the events campaign/ defines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from django.db import transaction
from django.dispatch import Signal

from campaign.events import donation_reversed, donation_succeeded, donations_succeeded
from donations.ledger import donation_transactions
from donations.models import Donation, DonationStatus, TransactionKind

log = structlog.get_logger(__name__)

# Ledger movements that take money back from a gift, or bring it back (a dispute won).
REVERSALS = (TransactionKind.REFUND, TransactionKind.DISPUTE, TransactionKind.DISPUTE_WON)


def _send_in_savepoint(signal: Signal, donation: Donation, payloads: list[dict[str, Any]]) -> None:
    """Inside the caller's transaction, in a savepoint of its own: the listeners' writes commit
    with the money, and a listener that raises is rolled back without holding the money up."""
    if not payloads:
        return
    try:
        with transaction.atomic():
            for payload in payloads:
                signal.send(sender=Donation, **payload)
    except Exception:
        # The ledger stands: what is lost is mailing's view of it, and this says so loudly.
        log.exception("donations.gift_event_failed", donation_id=donation.pk)


def gift_recorded(donation: Donation) -> None:
    """Send donation_succeeded inside the gift's transaction (mailing ends appeals, starts the
    first-gift series and credits the email that brought it); see campaign/events.py. Then any
    refund or dispute the ledger booked before the gift itself (events arrive in any order)."""
    gifts_recorded([donation])


def gifts_recorded(donations: Sequence[Donation]) -> None:
    """gift_recorded for gifts booked one after the other in one transaction (a drain batch's,
    donations.gift_batch): one donations_succeeded for all, in one savepoint. If a listener
    raises, each gift's donation_succeeded is sent in a savepoint of its own, so one failing
    gift costs the others nothing (listeners are idempotent)."""
    payloads = _succeeded(donations)
    if not _sent_together(payloads):
        for donation, payload in zip(donations, payloads, strict=True):
            _send_in_savepoint(donation_succeeded, donation, [payload])
    for donation in donations:
        # The status is already derived from the ledger here: only a gift that is not simply
        # paid can have a refund or dispute waiting, so the usual gift costs no extra query.
        if donation.status != DonationStatus.PAID:
            gift_reversals_announce(donation)


def _sent_together(payloads: list[dict[str, Any]]) -> bool:
    """Whether several gifts were told in one donations_succeeded, in one savepoint; False for
    one gift (told on its own anyway), or when a listener raised (all rolled back, to tell
    them one by one)."""
    if len(payloads) < 2:
        return False
    try:
        with transaction.atomic():
            donations_succeeded.send(sender=Donation, gifts=payloads)
    except Exception:  # noqa: BLE001 - each is sent again on its own, where a failure is logged
        return False
    return True


def _succeeded(donations: Sequence[Donation]) -> list[dict[str, Any]]:
    """donation_succeeded's kwargs for each gift. A first gift: its supporter's first gift in
    the ledger, counting these gifts in their order."""
    supporters = {d.supporter_id for d in donations if d.supporter_id is not None}
    others = Donation.objects.filter(
        supporter_id__in=supporters, transactions__kind=TransactionKind.GIFT
    ).exclude(pk__in=[donation.pk for donation in donations])
    given: set[int | None] = set()
    if supporters:
        given.update(others.values_list("supporter_id", flat=True))
    payloads = []
    for donation in donations:
        payloads.append(
            {
                "donation_id": donation.pk,
                "supporter_id": donation.supporter_id,
                "source_token": donation.source_token,
                "first_gift": donation.supporter_id is None or donation.supporter_id not in given,
                "frequency": donation.frequency,
                "amount": donation.amount,
                "currency": donation.currency.lower(),
            }
        )
        given.add(donation.supporter_id)
    return payloads


def gift_reversals_announce(donation: Donation) -> None:
    """Send donation_reversed for each refund or dispute movement the ledger holds for this
    gift. All of them, every time: one query, listeners count each movement once, and a
    movement whose first announcement failed is announced again with the next one."""
    rows = (
        donation_transactions(donation)
        .filter(kind__in=REVERSALS)
        .order_by("pk")
        .values_list("stripe_object", "kind", "amount", "currency")
    )
    payloads = [
        {
            "donation_id": donation.pk,
            "donation_uuid": str(donation.uuid),
            "reversal": stripe_object,
            "kind": kind,
            "amount": -amount,  # the ledger's sign is the charity's balance; this is the gift's
            "currency": currency.lower(),
        }
        for stripe_object, kind, amount, currency in rows
    ]
    _send_in_savepoint(donation_reversed, donation, payloads)
