"""A drain batch's plain gifts, booked together: a handful of statements for the batch instead
of about ten round trips and a Django save for every gift (the drain's CPU in a storm of gifts,
bench/webhook_storm.py).

A plain gift is a one-off gift of our donate page that Checkout reports paid, whose charge the
batch read ahead (donations.charge_reads), whose donation has no payment intent of another and
no ledger row yet. Its session's `completed` (or `async_payment_succeeded`) event books it as
its handler would (donations.handlers: checkout_session, _record_payment_intent,
_record_gift): the ledger row; the session, donor details, payment intent, method, status
"paid" and matching supporter in one UPDATE with the save's audit entry; the thank-you notice;
donation_succeeded. Its payment intent's `succeeded` event then has nothing to do, as its
handler would find. tests/donations/test_gift_batch.py holds both paths to the same books,
audit entries, notices and mailing credits.

Any other event, and any gift found not plain once its donation is locked, goes to its
handler after these, in the same transaction: the handlers give the same books in any order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from campaign.selectors import supporter_ids_by_email
from donations.charge_reads import PAID_SESSION_EVENTS, succeeded_charge
from donations.handlers import charge_method, gift_movement, session_details
from donations.ledger import ledger_record_all, payment_intent_locks, status_forward
from donations.models import (
    Donation,
    DonationStatus,
    Method,
    NoticeKind,
    StripeEvent,
    Transaction,
    TransactionKind,
)
from donations.notices import notices_queue_for_donations
from donations.signals import gifts_recorded


@dataclass(frozen=True)
class _Session:
    """A paid one-off session's event, with the charge read ahead for its payment intent."""

    event: StripeEvent
    uuid: UUID
    session: dict[str, Any]
    intent: str
    charge: dict[str, Any]


@dataclass(frozen=True)
class _Payment:
    """A payment intent's succeeded event for one of our gifts."""

    event: StripeEvent
    uuid: UUID
    charge: str


def plain_gifts_book(events: Sequence[StripeEvent]) -> set[int]:
    """Book the plain gifts among a batch's events; returns the ids of the events applied (the
    caller applies the others). In the batch's transaction, under its lock timeout."""
    sessions, payments = _candidates(events)
    if not sessions and not payments:
        return set()
    donations = _locked({c.uuid for c in sessions} | {c.uuid for c in payments})
    booking = _bookable(sessions, donations)
    booked = _book([(c, donations[c.uuid]) for c in booking])
    applied = {c.event.pk for c in booking}
    paid_charges = booked | _gift_charges({c.charge for c in payments} - booked)
    applied |= {c.event.pk for c in payments if c.uuid in donations and c.charge in paid_charges}
    return applied


def _candidates(events: Sequence[StripeEvent]) -> tuple[list[_Session], list[_Payment]]:
    sessions: list[_Session] = []
    payments: list[_Payment] = []
    for event in events:
        # A signed body may hold any JSON beyond its envelope: nothing assumed.
        data = event.payload.get("data") if isinstance(event.payload, dict) else None
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            continue
        if event.type in PAID_SESSION_EVENTS:
            session = _session(event, obj)
            if session is not None:
                sessions.append(session)
        elif event.type == "payment_intent.succeeded":
            payment = _payment(event, obj)
            if payment is not None:
                payments.append(payment)
    return sessions, payments


def _session(event: StripeEvent, session: dict[str, Any]) -> _Session | None:
    """The event's plain paid session, as checkout_session reads it; None otherwise."""
    intent = session.get("payment_intent")
    if not (
        session.get("mode") == "payment"
        and session.get("payment_status") == "paid"
        and isinstance(intent, str)
        and intent
        and isinstance(session.get("id"), str)
    ):
        return None
    metadata = session.get("metadata")
    uuid = _uuid(
        session.get("client_reference_id")
        or (metadata.get("donation_uuid") if isinstance(metadata, dict) else None)
    )
    charge = succeeded_charge(intent)
    if uuid is None or charge is None or _id(charge.get("payment_intent")) != intent:
        return None
    return _Session(event=event, uuid=uuid, session=session, intent=intent, charge=charge)


def _payment(event: StripeEvent, intent: dict[str, Any]) -> _Payment | None:
    metadata = intent.get("metadata")
    uuid = _uuid(metadata.get("donation_uuid") if isinstance(metadata, dict) else None)
    charge = _id(intent.get("latest_charge"))
    if uuid is None or intent.get("status") != "succeeded" or not charge:
        return None
    return _Payment(event=event, uuid=uuid, charge=charge)


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return value if isinstance(value, str) else ""


def _locked(uuids: set[UUID]) -> dict[UUID, Donation]:
    """The donations, locked in id order (as every drain takes them)."""
    found = Donation.objects.select_for_update().filter(uuid__in=uuids).order_by("pk")
    return {donation.uuid: donation for donation in found}


def _bookable(sessions: list[_Session], donations: dict[UUID, Donation]) -> list[_Session]:
    """The sessions whose gift is plain: the first event of each donation, a one-off gift
    with no other payment intent, and, once their payment intents are held, nothing in the
    ledger under the donation or the payment intent."""
    chosen: dict[int, _Session] = {}
    for candidate in sessions:
        donation = donations.get(candidate.uuid)
        if (
            donation is None
            or donation.pk in chosen
            or donation.recurring_id is not None
            or donation.stripe_payment_intent not in ("", candidate.intent)
            or int(candidate.charge["balance_transaction"]["amount"]) <= 0
        ):
            continue
        chosen[donation.pk] = candidate
    if not chosen:
        return []
    # As _record_payment_intent: the payment intent's lock, then the ledger as committed.
    payment_intent_locks(c.intent for c in chosen.values())
    held = _with_ledger_rows({pk: c.intent for pk, c in chosen.items()})
    return [c for pk, c in chosen.items() if pk not in held]


_WITH_LEDGER_ROWS = """
SELECT wanted.donation_id FROM unnest(%s::bigint[], %s::text[]) AS wanted(donation_id, intent)
WHERE EXISTS (SELECT 1 FROM donations_transaction t WHERE t.donation_id = wanted.donation_id)
    OR EXISTS (
        SELECT 1 FROM donations_transaction t
        WHERE t.stripe_payment_intent = wanted.intent AND t.stripe_payment_intent <> ''
    )
"""


def _with_ledger_rows(intents: dict[int, str]) -> set[int]:
    """Of these donations (id -> payment intent), those with any ledger row (ledger.
    donation_transactions)."""
    with connection.cursor() as cursor:
        cursor.execute(_WITH_LEDGER_ROWS, [list(intents), list(intents.values())])
        return {donation_id for (donation_id,) in cursor.fetchall()}


def _gift_charges(charges: set[str]) -> set[str]:
    if not charges:
        return set()
    gifts = Transaction.objects.filter(kind=TransactionKind.GIFT, stripe_object__in=charges)
    return set(gifts.values_list("stripe_object", flat=True))


def _book(gifts: list[tuple[_Session, Donation]]) -> set[str]:
    """The gifts' ledger rows, donations, notices and events; returns their charges."""
    if not gifts:
        return set()
    donations = [d for _, d in gifts]
    movements = [(gift_movement(c.charge, c.charge["balance_transaction"]), d) for c, d in gifts]
    if not all(ledger_record_all(movements)):
        # Written meanwhile under another payment intent or donation: not plain after all.
        # Raised, so the drain applies this batch again event by event, through the handlers.
        raise RuntimeError("a plain gift's charge is in the ledger already")
    changes = {d.pk: _donation_changes(c, d) for c, d in gifts}
    _supporters_match(donations, changes)
    _donations_update(donations, changes)
    notices_queue_for_donations(NoticeKind.THANKS, donations)
    gifts_recorded(donations)
    return {c.charge["id"] for c, _ in gifts}


def _donation_changes(candidate: _Session, donation: Donation) -> set[str]:
    """What _record_payment_intent and _record_gift set on the donation, unsaved."""
    changed = session_details(donation, candidate.session)
    if not donation.stripe_payment_intent:
        donation.stripe_payment_intent = candidate.intent
        changed.add("stripe_payment_intent")
    method = charge_method(candidate.charge)
    if donation.method != method and method != Method.UNKNOWN:
        donation.method = method
        changed.add("method")
    # The ledger held nothing for it: its one gift row says paid.
    if status_forward(donation, DonationStatus.PAID):
        changed.add("status")
    return changed


def _supporters_match(donations: list[Donation], changes: dict[int, set[str]]) -> None:
    """handlers._supporter_match for every gift, in one query."""
    unlinked = [d for d in donations if d.supporter_id is None and d.donor_email]
    found = supporter_ids_by_email(d.donor_email for d in unlinked)
    for donation in unlinked:
        supporter = found.get(donation.donor_email.lower())
        if supporter is not None:
            donation.supporter_id = supporter
            changes[donation.pk].add("supporter")


_UPDATE = """
UPDATE donations_donation d SET
    stripe_checkout_session = v.session, donor_email = v.email, donor_name = v.name,
    stripe_payment_intent = v.intent, method = v.method, status = v.status,
    supporter_id = v.supporter, updated_at = %s
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
    %s::text[], %s::bigint[]) AS v(id, session, email, name, intent, method, status, supporter)
WHERE d.id = v.id
"""
_UPDATED = (
    "pk",
    "stripe_checkout_session",
    "donor_email",
    "donor_name",
    "stripe_payment_intent",
    "method",
    "status",
    "supporter_id",
)


def _donations_update(donations: list[Donation], changes: dict[int, set[str]]) -> None:
    """Each donation's save(update_fields=[...changed, "updated_at"]), in one UPDATE; the audit
    entries are the saves' (AuditedFromLoad.audit_written)."""
    saving = [d for d in donations if changes[d.pk]]
    if not saving:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE, [now, *([getattr(d, name) for d in saving] for name in _UPDATED)])
    for donation in saving:
        donation.updated_at = now
        donation.audit_written([*sorted(changes[donation.pk]), "updated_at"])
