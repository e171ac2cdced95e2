"""One handler per Stripe event type. Each re-reads what can be stale and is idempotent.

Handlers run inside the transaction that marks the event processed (donations.inbox); every
write they make is keyed by a Stripe id, so any order and any number of deliveries end in the
same ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import structlog
from django.conf import settings
from django.db.models import Exists
from django.utils import timezone

from campaign.selectors import supporter_by_email
from donations import doors, stripe_api
from donations.charge_reads import succeeded_charge
from donations.defence import decline_recorded
from donations.ledger import (
    Movement,
    donation_advance,
    from_timestamp,
    ledger_record,
    payment_intent_lock,
    status_forward,
    status_from_ledger,
)
from donations.models import (
    Donation,
    DonationStatus,
    DonorNotice,
    Frequency,
    Method,
    NoticeKind,
    PayoutLine,
    RecurringDonation,
    RecurringState,
    Transaction,
    TransactionKind,
)
from donations.notices import notice_queue
from donations.signals import gift_recorded, gift_reversals_announce

log = structlog.get_logger(__name__)
Payload = dict[str, Any]


def _id(value: Any) -> str:
    """A Stripe reference is an id string, or the object itself when expanded."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value["id"])


def _donation_by_uuid(value: str | None) -> Donation | None:
    if not value:
        return None
    return Donation.objects.select_for_update().filter(uuid=value).first()


def _donation_and_gift(
    value: str | None, gift_of: Literal["session", "charge"], ref: str
) -> tuple[Donation | None, bool]:
    """Lock our donation by uuid and tell whether the ledger holds its gift, in one query (a
    drain's time goes mostly into round trips): the session's gift (the donation's, with the
    session's payment intent `ref`) or the charge's (`ref`). Written as SQL: built by the ORM,
    with an Exists annotation, this query took a quarter of a drain's CPU."""
    if not value:
        return None, False
    uuid = Donation._meta.get_field("uuid").to_python(value)  # refuses what is not a uuid
    found = list(Donation.objects.raw(_DONATION_AND_GIFT[gift_of], [ref, uuid]))
    donation = found[0] if found else None
    return donation, donation is not None and bool(getattr(donation, "gift_in_ledger", False))


_GIFT_ROW = {
    "session": "t.donation_id = d.id AND t.stripe_payment_intent = %s",
    "charge": "t.stripe_object = %s",
}
_DONATION_AND_GIFT = {
    kind: f"""
    SELECT d.*, EXISTS (
        SELECT 1 FROM donations_transaction t WHERE t.kind = 'gift' AND {match}
    ) AS gift_in_ledger
    FROM donations_donation d WHERE d.uuid = %s
    FOR UPDATE OF d
    """  # noqa: S608 - our tables and conditions; the values are parameters
    for kind, match in _GIFT_ROW.items()
}


def _save(donation: Donation, fields: set[str]) -> None:
    """One UPDATE for everything an event changed (each save also writes its audit entry:
    two round trips a save)."""
    if fields:
        donation.save(update_fields=[*sorted(fields), "updated_at"])


def _fail(donation: Donation, changed: set[str] | None = None) -> None:
    """Mark the gift failed; repeated failures from one address feed the card-testing block."""
    failed = status_forward(donation, DonationStatus.FAILED)
    _save(donation, (changed or set()) | ({"status"} if failed else set()))
    if failed:
        decline_recorded(donation)


def charge_method(charge: Any) -> str:
    kind = (charge.get("payment_method_details") or {}).get("type", "")
    return kind if kind in Method.values else Method.UNKNOWN


# --- payments -------------------------------------------------------------------------------


def _record_payment_intent(
    intent_ref: str | Payload, donation: Donation | None, changed: set[str] | None = None
) -> None:
    """Bring the donation and the ledger up to date with the payment intent as Stripe has it.

    `intent_ref` is an id, or the intent freshly read with its charge's balance expanded;
    `changed` names fields the caller set on the donation, saved here with the rest.
    """
    payment_intent_lock(intent_ref if isinstance(intent_ref, str) else intent_ref["id"])
    intent: Payload
    known = succeeded_charge(intent_ref) if isinstance(intent_ref, str) and donation else None
    if known is not None:
        # Read ahead for the batch (donations.charge_reads): the intent has succeeded.
        intent = {"id": intent_ref, "status": "succeeded", "latest_charge": known}
    elif isinstance(intent_ref, str):
        intent = stripe_api.payment_intent_retrieve(intent_ref)
    else:
        intent = intent_ref
    if donation is None:
        donation = _donation_by_uuid((intent.get("metadata") or {}).get("donation_uuid"))
    changed = set(changed or ())
    if donation is not None and not donation.stripe_payment_intent:
        donation.stripe_payment_intent = intent["id"]
        changed.add("stripe_payment_intent")
    status = intent["status"]
    if status in {"requires_payment_method", "canceled"}:
        if donation is not None:
            _fail(donation, changed)
        return
    if status == "succeeded":
        charge = intent.get("latest_charge")
        if not charge or isinstance(charge, str):
            charge = stripe_api.charge_retrieve(_id(charge))
        _record_gift(charge, donation, changed)
        return
    if donation is not None:
        if status == "processing" and status_forward(donation, DonationStatus.PROCESSING):
            changed.add("status")
        _save(donation, changed)


def _record_gift(charge: Any, donation: Donation | None, changed: set[str]) -> None:
    """The gift's ledger row, then the donation's method and status in one save; `changed`
    names fields the caller already set on the donation."""
    balance = charge.get("balance_transaction")
    if isinstance(balance, str):
        balance = stripe_api.charge_retrieve(charge["id"])["balance_transaction"]
    written = ledger_record(movement=gift_movement(charge, balance), donation=donation)
    if donation is None:
        if written:
            log.warning("donations.gift_without_donation", charge=charge["id"])
        return
    method = charge_method(charge)
    if donation.method != method and method != Method.UNKNOWN:
        donation.method = method
        changed.add("method")
    if status_forward(donation, status_from_ledger(donation)):
        changed.add("status")
    if written:
        changed |= _supporter_match(donation)
    _save(donation, changed)
    if written:
        _mandate_link(donation, charge)
        notice_queue(kind=NoticeKind.THANKS, key=str(donation.uuid), donation=donation)
        gift_recorded(donation)


def gift_movement(charge: Payload, balance: Payload | None) -> Movement:
    """The ledger row of a succeeded charge, with its balance transaction (expanded)."""
    return Movement(
        kind=TransactionKind.GIFT,
        stripe_object=charge["id"],
        amount=int(balance["amount"]) if balance else int(charge["amount"]),
        fee=int(balance["fee"]) if balance else 0,
        currency=charge["currency"],
        occurred_at=from_timestamp(charge.get("created")),
        stripe_payment_intent=_id(charge.get("payment_intent")),
        stripe_charge=charge["id"],
        stripe_balance_transaction=_id(balance),
        description="gift",
    )


def _supporter_match(donation: Donation) -> set[str]:
    """Link a gift to the supporter with the donor's email, if there is exactly that one;
    returns the field it set (unsaved).

    Matching only, never merging: a donation already linked keeps its supporter, and an
    address we do not know creates no marketing profile (that needs the news opt-in, which
    goes through double opt-in on the donate page).
    """
    if donation.supporter_id is not None or not donation.donor_email:
        return set()
    supporter = supporter_by_email(donation.donor_email)
    if supporter is None:
        return set()
    donation.supporter = supporter
    return {"supporter"}


def checkout_session(payload: Payload) -> None:
    """completed, async_payment_succeeded and async_payment_failed: the session decides."""
    session = payload["data"]["object"]
    # Our own reference, set when the session was created, never stale: the donation is locked
    # before anything else, so a drain that must leave the event for later (donations.inbox)
    # has not asked Stripe for nothing.
    donation, gift_in_ledger = _donation_and_gift(
        session.get("client_reference_id") or (session.get("metadata") or {}).get("donation_uuid"),
        "session",
        _id(session.get("payment_intent")),
    )
    if payload["type"] == "checkout.session.expired":
        _expire(donation)
        return
    if donation is None:
        _outside_session(session["id"])
        return
    # A one-off session reporting paid has nothing stale left to re-read: paid is final, and
    # the donor details in the payload never change. Its gift is booked already, or its charge
    # was read ahead for the batch (donations.charge_reads); otherwise the session is re-read
    # for its payment intent's charge.
    paid_one_off = (
        session.get("mode") == "payment"
        and session.get("payment_status") == "paid"
        and bool(session.get("payment_intent"))
    )
    already_paid = gift_in_ledger and paid_one_off
    if not (already_paid or (paid_one_off and succeeded_charge(_id(session["payment_intent"])))):
        session = stripe_api.checkout_session_retrieve(session["id"])
    changed = session_details(donation, session) if donation is not None else set()
    intent = session.get("payment_intent")
    subscription = session.get("mode") == "subscription"
    if intent and not (already_paid or subscription):
        # The donor details go into the same save as the payment's method and status.
        _record_payment_intent(intent, donation, changed)
        return
    if donation is not None:
        if payload["type"].endswith("failed") and not already_paid:
            _fail(donation, changed)
        else:
            _save(donation, changed)
    if subscription and not already_paid:
        _link_subscription(_id(session.get("subscription")), _id(session.get("customer")))
        if payload["type"] == "checkout.session.completed" and _unpaid(session):
            _first_invoice_processing(session)


def _unpaid(session: Payload) -> bool:
    return session.get("status") == "complete" and session.get("payment_status") == "unpaid"


def _first_invoice_processing(session: Payload) -> None:
    """A monthly gift whose first payment is a delayed debit (SEPA): Checkout completes
    "unpaid" while the bank works. The first invoice's payment decides the donation now
    (processing), as the one-off path does through its payment intent, so neither the thank-you
    page nor the back office says "pending" when the payment's own events come later, out of
    order, or not at all (an endpoint without payment_intent.* events)."""
    subscription = session.get("subscription")
    invoice_id = _id(session.get("invoice")) or (
        _id(subscription.get("latest_invoice")) if isinstance(subscription, dict) else ""
    )
    if invoice_id:
        _invoice_booked(stripe_api.invoice_retrieve(invoice_id), failed=False)


def _expire(donation: Donation | None) -> None:
    """The session ran out unpaid: an abandoned gift ends expired (final: Stripe never pays an
    expired session), so its thank-you page stops waiting."""
    if donation is not None and status_forward(donation, DonationStatus.EXPIRED):
        _save(donation, {"status"})


def _outside_session(session_id: str) -> None:
    """A Checkout Session we did not create: a Payment Link, or another site's checkout."""
    session = stripe_api.checkout_session_retrieve(session_id)
    if session.get("mode") == "subscription":
        if session.get("subscription"):
            _link_subscription(_id(session["subscription"]), _id(session.get("customer")), session)
        return
    intent = session.get("payment_intent")
    if intent:
        _outside_payment(_id(intent), session=session)


def session_details(donation: Donation, session: Payload) -> set[str]:
    """Copy the session id and the donor details Checkout collected; returns what it set."""
    details = session.get("customer_details") or {}
    changed: set[str] = set()
    if donation.stripe_checkout_session != session["id"]:
        donation.stripe_checkout_session = session["id"]
        changed.add("stripe_checkout_session")
    if not donation.donor_email and details.get("email"):
        donation.donor_email = details["email"]
        changed.add("donor_email")
    if not donation.donor_name and details.get("name"):
        donation.donor_name = details["name"]
        changed.add("donor_name")
    return changed


def payment_intent(payload: Payload) -> None:
    """Only our one-off gifts carry donation_uuid; invoice payments are handled per invoice."""
    intent = payload["data"]["object"]
    donation_uuid = (intent.get("metadata") or {}).get("donation_uuid")
    if not donation_uuid:
        if _outside_payment_news(intent):
            _outside_payment(intent["id"])
        return
    # Locked before Stripe is asked (see checkout_session); the metadata is our own.
    charge = _id(intent.get("latest_charge"))
    donation, gift_in_ledger = _donation_and_gift(donation_uuid, "charge", charge)
    if intent.get("status") == "succeeded" and charge and gift_in_ledger:
        return  # succeeded is final and its gift is in the ledger: nothing to re-read
    _record_payment_intent(intent["id"], donation)


def _outside_payment_news(intent: Payload) -> bool:
    """Whether a payment intent event without our metadata may change the books, decided
    without asking Stripe (finding its invoice or session costs two calls, and every payment
    of a monthly gift sends three such events): a success not booked yet, a payment processing
    that has no donation yet (shown as processing until its bank answers), the failure of a
    payment we hold, or of a delayed debit we never saw processing."""
    status = intent.get("status")
    if status == "succeeded":
        # Final; booked already by its invoice's or session's event?
        return not _gift_in_ledger(intent.get("latest_charge"))
    held = Donation.objects.filter(stripe_payment_intent=intent["id"]).exists()
    if status == "processing":
        return not held
    return held or doors.delayed_failure(intent)


def _gift_in_ledger(charge: Any) -> bool:
    charge_id = _id(charge)
    gifts = Transaction.objects.filter(stripe_object=charge_id, kind=TransactionKind.GIFT)
    return bool(charge_id) and gifts.exists()


def _outside_payment(
    intent_id: str, *, session: Payload | None = None, invoice: Payload | None = None
) -> None:
    """Book a payment made through any door as a full gift, whichever of its events (payment
    intent, Checkout Session, invoice) comes first: the donation is keyed by the payment
    intent, found again (under its lock) by every later event. A payment still processing (a
    SEPA debit) gets its donation at once, as processing; a delayed debit that fails ends
    failed; neither is thanked (only a gift in the ledger is). Charges without a payment
    intent: see charge_succeeded."""
    intent = stripe_api.payment_intent_retrieve(intent_id)
    if (intent.get("metadata") or {}).get("donation_uuid"):
        _record_payment_intent(intent, None)  # ours after all (a stale payload)
        return
    # The row lock before the intent's, as _donation_for_charge takes them.
    by_intent = Donation.objects.select_for_update().filter(stripe_payment_intent=intent_id)
    donation = by_intent.first()
    if donation is None:
        # Not booked yet: is it a monthly payment? (A donation that exists knows its door
        # already, which spares each later event of a payment the invoice's two calls; the
        # monthly gift's state is its invoice events' to change.)
        if invoice is None:
            invoice = stripe_api.invoice_for_payment_intent(intent_id)
        if invoice is not None and _subscription_of(invoice):
            _invoice_booked(invoice, failed=False, intent=intent)  # monthly: per invoice
            return
    payment_intent_lock(intent_id)
    if donation is None:
        donation = by_intent.first()  # created by a drain that committed while we waited
    if donation is None:
        if not doors.worth_a_donation(intent):
            return  # a declined attempt at another door: no gift, nothing to thank for
        if session is None:
            session = stripe_api.checkout_session_for(payment_intent=intent_id)
        donation = doors.donation_for_payment(intent, session=session, invoice=invoice)
    _record_payment_intent(intent, donation)


def charge_succeeded(payload: Payload) -> None:
    """A charge made without a payment intent (the legacy Charges API, which older integrations
    still use): its only event, so it books the gift here. A charge with a payment intent is
    booked through the intent's events; the inbox stores those ignored (event_wanted)."""
    charge = payload["data"]["object"]
    if not charge.get("payment_intent"):
        _legacy_charge_book(stripe_api.charge_retrieve(charge["id"]))


def _legacy_charge_book(charge: Payload) -> Donation | None:
    """The donation of a charge without a payment intent, with its gift in the ledger: created
    once, whichever of its events (succeeded, refunded, disputed) comes first, found again by
    the others through the gift's ledger row."""
    if charge.get("payment_intent") or not charge.get("paid"):
        return None
    payment_intent_lock(charge["id"])  # the charge stands in for the intent it lacks
    donation = (
        Donation.objects.select_for_update(of=("self",))
        .filter(transactions__stripe_object=charge["id"], transactions__kind=TransactionKind.GIFT)
        .first()
    )
    if donation is None:
        donation = doors.donation_for_charge(charge)
        _record_gift(charge, donation, set())
    return donation


# --- monthly gifts --------------------------------------------------------------------------


def _recurring_for_subscription(
    subscription_id: str, *, create: bool = False
) -> RecurringDonation | None:
    """The subscription's monthly gift, by subscription id, else by our metadata; `create`:
    a subscription made elsewhere gets its own (when a payment or its checkout arrives)."""
    if not subscription_id:
        return None
    found = (
        RecurringDonation.objects.select_for_update()
        .filter(stripe_subscription=subscription_id)
        .first()
    )
    if found is not None:
        return found
    return _link_subscription(subscription_id, "", create=create)


def _link_subscription(
    subscription_id: str, customer_id: str, session: Payload | None = None, *, create: bool = True
) -> RecurringDonation | None:
    """Find our monthly gift through the subscription's metadata and store the Stripe ids; one
    we did not start becomes a monthly gift of its own (`create`), keyed by its id."""
    if not subscription_id:
        return None
    subscription = stripe_api.subscription_retrieve(subscription_id)
    recurring_uuid = (subscription.get("metadata") or {}).get("recurring_uuid")
    recurring = (
        RecurringDonation.objects.select_for_update().filter(uuid=recurring_uuid).first()
        if recurring_uuid
        else None
    )
    if recurring is None and create:
        if session is None:
            session = stripe_api.checkout_session_for(subscription=subscription_id)
        recurring = doors.recurring_for_subscription(subscription, session=session)
    if recurring is None:
        log.warning("donations.unknown_subscription", subscription=subscription_id)
        return None
    recurring.stripe_subscription = subscription_id
    recurring.stripe_customer = customer_id or _id(subscription.get("customer"))
    _apply_subscription_state(recurring, subscription)
    return recurring


def _apply_subscription_state(recurring: RecurringDonation, subscription: Any) -> None:
    status = subscription.get("status")
    if recurring.state == RecurringState.LAPSED:
        state = RecurringState.LAPSED  # lapsed is final; Stripe shows it as canceled
    elif status == "canceled":
        state = RecurringState.CANCELLED
    elif subscription.get("pause_collection"):
        state = RecurringState.PAUSED
    elif status == "past_due":
        state = RecurringState.PAST_DUE
    elif status in {"active", "trialing"}:
        state = RecurringState.ACTIVE
    else:
        state = RecurringState(RecurringDonation.objects.get(pk=recurring.pk).state)
    recurring.state = state
    items = (subscription.get("items") or {}).get("data") or []
    if items:
        recurring.amount = doors.subscription_amount(subscription) or recurring.amount
        period_end = items[0].get("current_period_end")
        if period_end and state in {RecurringState.ACTIVE, RecurringState.PAST_DUE}:
            recurring.next_payment_at = from_timestamp(period_end)
    recurring.save()


def _mandate_link(donation: Donation, charge: Any) -> None:
    """Keep the monthly gift's SEPA mandate (id and reference) as its payments show it.

    The first payment is iDEAL, which generates the mandate; later ones are debited under it.
    The reference goes into every pre-debit notice, as the SEPA rules require.
    """
    if donation.recurring_id is None:
        return
    details = charge.get("payment_method_details") or {}
    mandate_id = (details.get("sepa_debit") or {}).get("mandate") or (
        details.get("ideal") or {}
    ).get("generated_sepa_debit_mandate")
    if not mandate_id:
        return
    recurring = RecurringDonation.objects.select_for_update().get(pk=donation.recurring_id)
    if recurring.stripe_mandate == mandate_id and recurring.mandate_reference:
        return
    mandate = stripe_api.mandate_retrieve(mandate_id)
    sepa = (mandate.get("payment_method_details") or {}).get("sepa_debit") or {}
    recurring.stripe_mandate = mandate_id
    recurring.mandate_reference = str(sepa.get("reference") or "")
    recurring.save(update_fields=["stripe_mandate", "mandate_reference", "updated_at"])


def _subscription_of(invoice: Any) -> str:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id(details.get("subscription") or invoice.get("subscription"))


def _invoice_donation(
    invoice: Any, recurring: RecurringDonation, intent: Payload | None
) -> Donation:
    """The donation for one monthly payment; the first one was created at checkout.
    `intent`: the invoice's payment intent as Stripe has it (its method, and its id)."""
    existing = Donation.objects.select_for_update().filter(stripe_invoice=invoice["id"]).first()
    if existing is not None:
        if intent is not None and not existing.stripe_payment_intent:
            existing.stripe_payment_intent = intent["id"]
            existing.save(update_fields=["stripe_payment_intent", "updated_at"])
        return existing
    if invoice.get("billing_reason") == "subscription_create":
        first = (
            Donation.objects.select_for_update()
            .filter(recurring=recurring, stripe_invoice__isnull=True)
            .order_by("created_at")
            .first()
        )
        if first is not None:
            first.stripe_invoice = invoice["id"]
            first.save(update_fields=["stripe_invoice", "updated_at"])
            return first
    charge = (intent or {}).get("latest_charge")
    payment_method = (intent or {}).get("payment_method")
    method = doors.method_of(
        charge.get("payment_method_details") if isinstance(charge, dict) else None,
        payment_method if isinstance(payment_method, dict) else None,
    )
    return Donation.objects.create(
        supporter=recurring.supporter,
        recurring=recurring,
        donor_name=recurring.donor_name,
        donor_email=recurring.donor_email,
        amount=int(invoice.get("amount_due") or recurring.amount),
        currency=invoice.get("currency") or recurring.currency,
        frequency=Frequency.MONTHLY,
        # What the invoice was really paid with (a card renewal is no SEPA debit); a payment
        # not yet attempted is most likely the mandate's debit.
        method=method if intent is not None else Method.SEPA_DEBIT,
        language=recurring.language,
        channel=recurring.channel,
        campaign_id=recurring.campaign_id,
        stripe_invoice=invoice["id"],
        stripe_payment_intent=intent["id"] if intent is not None else "",
    )


def _invoice_payment_intent(invoice: Any) -> str:
    payments = (invoice.get("payments") or {}).get("data") or []
    for payment in payments:
        intent = (payment.get("payment") or {}).get("payment_intent")
        if intent:
            return _id(intent)
    return ""


def invoice_paid(payload: Payload) -> None:
    invoice = stripe_api.invoice_retrieve(payload["data"]["object"]["id"])
    if not _subscription_of(invoice):
        # A one-off invoice (sent from the dashboard): a gift like any other payment.
        intent = _invoice_payment_intent(invoice)
        if intent:
            _outside_payment(intent, invoice=invoice)
        return
    _invoice_booked(invoice, failed=False)


def _invoice_booked(invoice: Any, *, failed: bool, intent: Payload | None = None) -> None:
    """A subscription's invoice paid (or its payment failed): its monthly gift, found or
    created, and the donation for this payment. `intent`: its payment intent, if just read."""
    recurring = _recurring_for_subscription(_subscription_of(invoice), create=True)
    if recurring is None:
        return
    intent_id = _invoice_payment_intent(invoice)
    booked = not failed and _invoice_gift_booked(invoice["id"], intent_id)
    if intent_id and not booked and (intent is None or intent["id"] != intent_id):
        intent = stripe_api.payment_intent_retrieve(intent_id)
    donation = _invoice_donation(invoice, recurring, intent if intent_id else None)
    if failed:
        _invoice_failed(invoice, recurring, donation)
        return
    if intent is not None and not booked:
        _record_payment_intent(intent, donation)
    if invoice.get("status") != "paid":
        return  # reached through its payment's events before the invoice was paid
    if recurring.state == RecurringState.PAST_DUE:
        # Whether this payment ends the dunning is Stripe's to say: an older month's paid
        # invoice arriving after a later debit failed must leave the gift past due.
        _apply_subscription_state(
            recurring, stripe_api.subscription_retrieve(_subscription_of(invoice))
        )
        if recurring.state != RecurringState.ACTIVE:
            return
    elif recurring.state == RecurringState.PENDING:
        recurring.state = RecurringState.ACTIVE
    recurring.failed_payments = 0
    recurring.save(update_fields=["state", "failed_payments", "updated_at"])


def _invoice_gift_booked(invoice_id: str, intent_id: str) -> bool:
    """Whether this invoice's donation holds its payment and the ledger its gift (booked by the
    payment's own events): then the invoice has nothing to ask Stripe about its payment."""
    if not intent_id:
        return False
    gift = Transaction.objects.filter(stripe_payment_intent=intent_id, kind=TransactionKind.GIFT)
    return Donation.objects.filter(
        Exists(gift), stripe_invoice=invoice_id, stripe_payment_intent=intent_id
    ).exists()


def invoice_payment_failed(payload: Payload) -> None:
    """SEPA-aware dunning: a friendly note per failed debit; lapse after the last one.

    Failed debits count whether Stripe retries the same invoice or the next month's fails too;
    a paid invoice resets the count (invoice_paid). Each (invoice, attempt) counts once, however
    often its event arrives: the notice row it leaves is the marker.
    """
    invoice = stripe_api.invoice_retrieve(payload["data"]["object"]["id"])
    if _subscription_of(invoice):
        _invoice_booked(invoice, failed=True)


def _invoice_failed(invoice: Any, recurring: RecurringDonation, donation: Donation) -> None:
    if invoice.get("status") == "paid":
        return  # a later attempt already succeeded; this event is stale
    _fail(donation)
    if recurring.state in {RecurringState.CANCELLED, RecurringState.LAPSED}:
        return
    attempt = int(invoice.get("attempt_count") or 1)
    failure = f"{invoice['id']}:{attempt}"
    if DonorNotice.objects.filter(key=f"{NoticeKind.PAYMENT_FAILED}:{failure}").exists():
        return
    recurring.failed_payments += 1
    if recurring.failed_payments >= settings.DUNNING_MAX_ATTEMPTS:
        recurring.state = RecurringState.LAPSED
        recurring.save(update_fields=["state", "failed_payments", "updated_at"])
        if recurring.stripe_subscription:
            stripe_api.subscription_cancel(
                recurring.stripe_subscription, idempotency_key=f"recurring-{recurring.uuid}-lapse"
            )
        # The last failure's marker, so a repeat of this event is recognised too.
        DonorNotice.objects.create(
            kind=NoticeKind.PAYMENT_FAILED,
            key=f"{NoticeKind.PAYMENT_FAILED}:{failure}",
            recurring=recurring,
            sent_at=timezone.now(),
            context={"superseded_by": "lapsed"},
        )
        notice_queue(kind=NoticeKind.LAPSED, key=str(recurring.uuid), recurring=recurring)
        return
    recurring.state = RecurringState.PAST_DUE
    recurring.save(update_fields=["state", "failed_payments", "updated_at"])
    notice_queue(
        kind=NoticeKind.PAYMENT_FAILED,
        key=failure,
        recurring=recurring,
        context={
            "attempt": recurring.failed_payments,
            "amount": int(invoice.get("amount_due") or 0),
        },
    )


def invoice_upcoming(payload: Payload) -> None:
    """SEPA pre-notification: amount, date and mandate reference before each debit."""
    invoice = payload["data"]["object"]
    recurring = _recurring_for_subscription(_subscription_of(invoice))
    if recurring is None or recurring.state not in {RecurringState.ACTIVE, RecurringState.PAST_DUE}:
        return
    debit_at = invoice.get("next_payment_attempt") or invoice.get("period_end")
    notice_queue(
        kind=NoticeKind.PRE_DEBIT,
        key=f"{recurring.uuid}:{debit_at}",
        recurring=recurring,
        context={
            "amount": int(invoice.get("amount_due") or recurring.amount),
            "debit_at": int(debit_at or 0),
            "mandate_reference": recurring.mandate_reference,
        },
    )


def subscription_changed(payload: Payload) -> None:
    subscription = stripe_api.subscription_retrieve(payload["data"]["object"]["id"])
    recurring = _recurring_for_subscription(subscription["id"])
    if recurring is not None:
        _apply_subscription_state(recurring, subscription)


def mandate_updated(payload: Payload) -> None:
    """A revoked SEPA mandate ends the monthly gift, with a notice to the donor."""
    mandate = stripe_api.mandate_retrieve(payload["data"]["object"]["id"])
    if mandate.get("status") != "inactive":
        return
    for recurring in RecurringDonation.objects.select_for_update().filter(
        stripe_mandate=mandate["id"]
    ):
        if recurring.state in {RecurringState.CANCELLED, RecurringState.LAPSED}:
            continue
        recurring.state = RecurringState.CANCELLED
        recurring.save(update_fields=["state", "updated_at"])
        if recurring.stripe_subscription:
            stripe_api.subscription_cancel(
                recurring.stripe_subscription,
                idempotency_key=f"recurring-{recurring.uuid}-mandate-revoked",
            )
        notice_queue(kind=NoticeKind.MANDATE_REVOKED, key=str(recurring.uuid), recurring=recurring)


# --- refunds, disputes, payouts -------------------------------------------------------------


def _donation_for_charge(charge: Any) -> Donation | None:
    """The donation a charge paid for, even when its refund or dispute arrives first.

    One-off gifts carry our uuid in the payment intent's metadata; a monthly payment's
    donation may not exist yet, and then the ledger rows are joined to it later through the
    payment intent id (see ledger.donation_transactions).
    """
    intent_id = _id(charge.get("payment_intent"))
    if not intent_id:
        return _legacy_charge_book(charge)
    by_intent = Donation.objects.select_for_update().filter(stripe_payment_intent=intent_id)
    donation = by_intent.first()  # the row lock before the intent's, as the other handlers do
    payment_intent_lock(intent_id)
    if donation is None:
        donation = by_intent.first()  # linked by a drain that committed while we waited
    if donation is not None:
        return donation
    intent = stripe_api.payment_intent_retrieve(intent_id)
    donation = _donation_by_uuid((intent.get("metadata") or {}).get("donation_uuid"))
    if donation is not None and not donation.stripe_payment_intent:
        donation.stripe_payment_intent = intent_id
        donation.save(update_fields=["stripe_payment_intent", "updated_at"])
    return donation


def charge_refunded(payload: Payload) -> None:
    charge = stripe_api.charge_retrieve(payload["data"]["object"]["id"])
    donation = _donation_for_charge(charge)
    for refund in (charge.get("refunds") or {}).get("data") or []:
        if refund.get("status") not in {"succeeded", "pending"}:
            continue
        balance = refund.get("balance_transaction") or {}
        ledger_record(
            movement=Movement(
                kind=TransactionKind.REFUND,
                stripe_object=refund["id"],
                amount=-int(refund["amount"]),
                fee=int(balance.get("fee") or 0) if isinstance(balance, dict) else 0,
                currency=refund["currency"],
                occurred_at=from_timestamp(refund.get("created")),
                stripe_payment_intent=_id(charge.get("payment_intent")),
                stripe_charge=charge["id"],
                stripe_balance_transaction=_id(balance),
                description="refund",
            ),
            donation=donation,
        )
    if donation is not None:
        donation_advance(donation, status_from_ledger(donation))
        gift_reversals_announce(donation)  # mailing nets its gift figures (campaign/events.py)


def dispute_changed(payload: Payload) -> None:
    """created and closed: each balance transaction of the dispute is a ledger row."""
    dispute = stripe_api.dispute_retrieve(payload["data"]["object"]["id"])
    charge_id = _id(dispute.get("charge"))
    if dispute.get("payment_intent"):
        donation = _donation_for_charge({"payment_intent": dispute["payment_intent"]})
    else:  # a legacy charge (no payment intent): its donation is found through the charge
        donation = _legacy_charge_book(stripe_api.charge_retrieve(charge_id)) if charge_id else None
    for balance in dispute.get("balance_transactions") or []:
        amount = int(balance["amount"])
        ledger_record(
            movement=Movement(
                kind=TransactionKind.DISPUTE_WON if amount > 0 else TransactionKind.DISPUTE,
                stripe_object=balance["id"],
                amount=amount,
                fee=int(balance.get("fee") or 0),
                currency=balance["currency"],
                occurred_at=from_timestamp(balance.get("created")),
                stripe_payment_intent=_id(dispute.get("payment_intent")),
                stripe_charge=charge_id,
                stripe_balance_transaction=balance["id"],
                description=f"dispute {dispute['id']} ({dispute.get('reason', '')})",
            ),
            donation=donation,
        )
    if donation is not None:
        donation_advance(donation, status_from_ledger(donation))
        gift_reversals_announce(donation)  # mailing nets its gift figures (campaign/events.py)


def payout_paid(payload: Payload) -> None:
    payout = stripe_api.payout_retrieve(payload["data"]["object"]["id"])
    if payout.get("status") != "paid":
        return
    ledger_record(
        movement=Movement(
            kind=TransactionKind.PAYOUT,
            stripe_object=payout["id"],
            amount=-int(payout["amount"]),
            fee=0,
            currency=payout["currency"],
            occurred_at=from_timestamp(payout.get("arrival_date") or payout.get("created")),
            stripe_balance_transaction=_id(payout.get("balance_transaction")),
            stripe_payout=payout["id"],
            description="payout to bank",
        ),
        donation=None,
    )


def _payout_line(payout_id: str, balance: Any) -> PayoutLine:
    return PayoutLine(
        payout=payout_id,
        balance_transaction=balance["id"],
        type=str(balance.get("type") or ""),
        amount=int(balance["amount"]),
        fee=int(balance.get("fee") or 0),
        net=int(balance["net"]),
        currency=str(balance["currency"]).lower(),
        source=_id(balance.get("source")),
    )


def payout_reconciled(payload: Payload) -> None:
    """Store what the payout settled (finance reconciles from these rows, not from Stripe);
    fees Stripe charged outside a payment (e.g. dispute fees billed apart) are ledger rows."""
    payout_id = payload["data"]["object"]["id"]
    balances = list(stripe_api.balance_transactions_for_payout(payout_id))
    # A balance transaction is settled by one payout only: a redelivery changes nothing.
    PayoutLine.objects.bulk_create(
        [_payout_line(payout_id, balance) for balance in balances], ignore_conflicts=True
    )
    for balance in balances:
        if balance.get("type") not in {"stripe_fee", "tax_fee"}:
            continue
        ledger_record(
            movement=Movement(
                kind=TransactionKind.FEE,
                stripe_object=balance["id"],
                amount=int(balance["amount"]),
                fee=int(balance.get("fee") or 0),
                currency=balance["currency"],
                occurred_at=from_timestamp(balance.get("created")),
                stripe_balance_transaction=balance["id"],
                stripe_payout=payout_id,
                description=str(balance.get("description") or "Stripe fee"),
            ),
            donation=None,
        )


HANDLERS: dict[str, Callable[[Payload], None]] = {
    "checkout.session.completed": checkout_session,
    "checkout.session.async_payment_succeeded": checkout_session,
    "checkout.session.async_payment_failed": checkout_session,
    "checkout.session.expired": checkout_session,
    "payment_intent.succeeded": payment_intent,
    "payment_intent.payment_failed": payment_intent,
    "payment_intent.processing": payment_intent,
    "charge.succeeded": charge_succeeded,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": dispute_changed,
    "charge.dispute.closed": dispute_changed,
    "invoice.paid": invoice_paid,
    "invoice.payment_failed": invoice_payment_failed,
    "invoice.upcoming": invoice_upcoming,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "payout.paid": payout_paid,
    "payout.reconciliation_completed": payout_reconciled,
    "mandate.updated": mandate_updated,
}


def event_wanted(event: Payload) -> bool:
    """Whether a stored event is queued for its handler: a type we handle, except a charge that
    has a payment intent (its intent's events book it; every gift sends one, which would only
    cost the drain a round of work)."""
    if event["type"] not in HANDLERS:
        return False
    if event["type"] == "charge.succeeded":
        obj = (event.get("data") or {}).get("object") or {}
        return not obj.get("payment_intent")
    return True
