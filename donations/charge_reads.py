"""The charges of a drain batch's gifts, read from Stripe a page at a time instead of one
payment intent re-read per gift.

Stripe limits reads (live mode: 100 a second per account, and 25 a second for each endpoint):
a storm of 25,000 gifts, each re-read on its own, would need 1,000 s at the per-endpoint
limit, however fast we were. Before a batch is applied, one list call (a few for a very dense
second) fetches the charges created around its payment events, each with its balance
transaction; a gift whose succeeded charge is known is booked from it, exactly as from its
re-read payment intent (donations.handlers). Anything not found (a debit charged days before
its payment succeeded, a page that failed) is re-read one by one as before: reading ahead
saves calls, it never decides anything.

Each process keeps the latest KEEP charges it read: a page also brings the next batches'.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import structlog

from donations import stripe_api
from donations.models import StripeEvent, Transaction, TransactionKind

log = structlog.get_logger(__name__)
KEEP = 2000
# Pages one batch may read: a second with more than ~500 charges costs re-reads, not a scan.
PAGES = 5
# A charge is created a moment before its payment's events.
LOOKBACK_SECONDS = 5
PAID_SESSION_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}

_known: OrderedDict[str, dict[str, Any]] = OrderedDict()  # payment intent id -> its charge


def succeeded_charge(intent_id: str) -> dict[str, Any] | None:
    """The payment intent's captured, succeeded charge with its balance transaction, when a
    batch read it ahead. Such a charge means the intent has succeeded, which is final."""
    return _known.get(intent_id)


def charges_read_ahead(events: Sequence[StripeEvent]) -> int:
    """Read the charges of the batch's paid one-off gifts not yet in the ledger; returns the
    number of list calls made."""
    wanted = _paid_intents(events)
    if not wanted:
        return 0
    booked = Transaction.objects.filter(
        kind=TransactionKind.GIFT, stripe_payment_intent__in=list(wanted)
    ).values_list("stripe_payment_intent", flat=True)
    missing = {i: t for i, t in wanted.items() if i not in _known}
    for intent in booked:
        missing.pop(intent, None)
    if not missing:
        return 0
    created_from = min(missing.values()) - LOOKBACK_SECONDS
    created_to = max(missing.values())
    after: str | None = None
    calls = 0
    try:
        while missing and calls < PAGES:
            page = stripe_api.charges_page(
                created_from=created_from, created_to=created_to, starting_after=after
            )
            calls += 1
            for charge in page["data"]:
                _keep(charge)
                missing.pop(str(charge.get("payment_intent")), None)
            if not page["has_more"] or not page["data"]:
                break
            after = page["data"][-1]["id"]
    except stripe_api.StripeError as exc:
        # Not fatal: every gift not found is re-read on its own.
        log.info("donations.charges_read_ahead_failed", error=f"{type(exc).__name__}: {exc}"[:200])
    return calls


def _keep(charge: dict[str, Any]) -> None:
    intent = charge.get("payment_intent")
    if not (
        isinstance(intent, str)
        and charge.get("status") == "succeeded"
        and charge.get("captured")
        and isinstance(charge.get("balance_transaction"), dict)
    ):
        return
    _known[intent] = charge
    _known.move_to_end(intent)
    while len(_known) > KEEP:
        _known.popitem(last=False)


def _paid_intents(events: Sequence[StripeEvent]) -> dict[str, int]:
    """Payment intent id -> its event's Unix time, for the paid one-off gifts of our donate page
    among the events (a signed body may hold any JSON beyond its envelope: nothing assumed)."""
    wanted: dict[str, int] = {}
    for event in events:
        payload = event.payload if isinstance(event.payload, dict) else {}
        obj = (payload.get("data") or {}).get("object")
        created = payload.get("created")
        if not isinstance(obj, dict) or not isinstance(created, int):
            continue
        intent: Any = None
        if event.type == "payment_intent.succeeded":
            metadata = obj.get("metadata")
            if isinstance(metadata, dict) and metadata.get("donation_uuid"):
                intent = obj.get("id")
        elif event.type in PAID_SESSION_EVENTS and (obj.get("mode"), obj.get("payment_status")) == (
            "payment",
            "paid",
        ):
            intent = obj.get("payment_intent")
        if isinstance(intent, str) and intent:
            wanted[intent] = max(wanted.get(intent, 0), created)
    return wanted
