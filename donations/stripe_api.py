"""Everything we ask of Stripe. The only module that imports `stripe`.

One function per call; the API version is pinned; idempotency keys come from our own ids, so a
retried request (a double click, a task retry) never creates a second object. STRIPE_API_BASE
points the client at a local Stripe-speaking server in tests and demos.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import quote

import stripe
from django.conf import settings

# The version stripe-python 16 is built for; objects are read in this shape everywhere.
API_VERSION = "2026-10-28.endive"
# Seconds a webhook timestamp may be old: Stripe's own default, which stops replays.
SIGNATURE_TOLERANCE = 300

SignatureError = stripe.SignatureVerificationError
StripeError = stripe.StripeError
# What every call returns: the object as plain (nested) dicts. stripe-python 16's objects are
# no longer dicts, and the rest of the code reads them with [] and .get() and stores them as JSON.
StripeDict = dict[str, Any]


def _plain(obj: stripe.StripeObject) -> StripeDict:
    # to_dict() turns the *_decimal fields (a price's unit_amount_decimal, an invoice line's
    # quantity_decimal) into Decimals, which Stripe sends as strings: back to Stripe's text,
    # or storing such an event as JSON (the inbox, reconcile) fails.
    plain: StripeDict = json.loads(json.dumps(obj.to_dict(), default=str))
    return plain


def _get(path: str, expand: list[str] | None = None) -> StripeDict:
    """GET one object as the JSON Stripe sent, through the client (key, pinned version,
    retries, errors raised as StripeError) but without building StripeObjects: for the re-reads
    every webhook event makes, that was half the cost of the call."""
    params: dict[str, Any] = {"expand": expand} if expand else {}
    response = client().raw_request("get", path, **params)
    data: StripeDict = response.data
    return data


@cache
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    addresses: Any = {"api": api_base} if api_base else None
    return stripe.StripeClient(
        api_key, stripe_version=API_VERSION, base_addresses=addresses, max_network_retries=2
    )


def client() -> stripe.StripeClient:
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


def webhook_verify(payload: bytes | str, signature_header: str | None) -> None:
    """Raise SignatureError unless the body was signed with our secret within the tolerance,
    in both directions: stripe-python only refuses timestamps too old, and a signature dated
    ahead would stay replayable until that date.

    Only the HMAC check: building a stripe.Event costs ~30x more and is left to the worker.
    """
    stripe.WebhookSignature.verify_header(
        payload, signature_header, settings.STRIPE_WEBHOOK_SECRET, SIGNATURE_TOLERANCE
    )
    if _signed_at(signature_header or "") > time.time() + SIGNATURE_TOLERANCE:
        raise SignatureError(
            "Timestamp ahead of the tolerance zone", signature_header, str(payload)[:200]
        )


def _signed_at(signature_header: str) -> int:
    """The header's first `t=`, read as verify_header has just read it (so it parses)."""
    items = [item.split("=", 2) for item in signature_header.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))


def checkout_session_create(*, params: dict[str, Any], idempotency_key: str) -> StripeDict:
    return _plain(
        client().v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]  # built by donations.checkout, checked by tests
            {"idempotency_key": idempotency_key},
        )
    )


def _path(collection: str, object_id: str) -> str:
    # Ids come from Stripe payloads: quoted so one can never reach another path.
    return f"/v1/{collection}/{quote(object_id, safe='')}"


def checkout_session_retrieve(session_id: str) -> StripeDict:
    # The charge's balance comes along: one call gives the gift's amount and fee.
    return _get(
        _path("checkout/sessions", session_id),
        ["payment_intent.latest_charge.balance_transaction", "subscription"],
    )


def payment_intent_retrieve(payment_intent_id: str) -> StripeDict:
    return _get(
        _path("payment_intents", payment_intent_id),
        ["latest_charge.balance_transaction", "payment_method"],
    )


def charge_retrieve(charge_id: str) -> StripeDict:
    return _get(
        _path("charges", charge_id), ["balance_transaction", "refunds.data.balance_transaction"]
    )


def charges_page(
    *, created_from: int, created_to: int, starting_after: str | None = None
) -> StripeDict:
    """One page of up to 100 charges created in [created_from, created_to], newest first, each
    with its balance transaction: the gifts of a whole drain batch in one call (see
    donations.charge_reads)."""
    params: dict[str, Any] = {
        "created": {"gte": created_from, "lte": created_to},
        "limit": 100,
        "expand": ["data.balance_transaction"],
    }
    if starting_after:
        params["starting_after"] = starting_after
    page: StripeDict = client().raw_request("get", "/v1/charges", **params).data
    return page


def disputes_of_charge(charge_id: str) -> list[StripeDict]:
    data: StripeDict = client().raw_request("get", "/v1/disputes", charge=charge_id).data
    return list(data["data"])


def dispute_retrieve(dispute_id: str) -> StripeDict:
    # A dispute's balance_transactions always come in full (they are not expandable).
    return _get(_path("disputes", dispute_id))


def invoice_retrieve(invoice_id: str) -> StripeDict:
    return _get(_path("invoices", invoice_id), ["payments"])


def subscription_retrieve(subscription_id: str) -> StripeDict:
    return _get(_path("subscriptions", subscription_id), ["default_payment_method"])


def subscription_update(
    subscription_id: str, *, params: dict[str, Any], idempotency_key: str
) -> StripeDict:
    return _plain(
        client().v1.subscriptions.update(
            subscription_id,
            params,  # type: ignore[arg-type]  # built by donations.recurring, checked by tests
            {"idempotency_key": idempotency_key},
        )
    )


def subscription_cancel(subscription_id: str, *, idempotency_key: str) -> StripeDict:
    return _plain(
        client().v1.subscriptions.cancel(
            subscription_id, None, {"idempotency_key": idempotency_key}
        )
    )


def customer_retrieve(customer_id: str) -> StripeDict:
    return _get(_path("customers", customer_id))


def _first(path: str, params: dict[str, Any]) -> StripeDict | None:
    """The newest object of a filtered list, or None."""
    response = client().raw_request("get", path, **{**params, "limit": 1})
    found: list[StripeDict] = response.data.get("data") or []
    return found[0] if found else None


def checkout_session_for(*, payment_intent: str = "", subscription: str = "") -> StripeDict | None:
    """The Checkout Session that created a payment or a subscription (a Payment Link, another
    site's checkout, our donate page), or None when it was made some other way."""
    params = {"payment_intent": payment_intent} if payment_intent else {}
    if subscription:
        params["subscription"] = subscription
    return _first("/v1/checkout/sessions", params) if params else None


def invoice_for_payment_intent(payment_intent_id: str) -> StripeDict | None:
    """The invoice a payment intent pays, read with its payments (expanded in the same call),
    or None."""
    record = _first(
        "/v1/invoice_payments",
        {
            "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
            "expand": ["data.invoice.payments"],
        },
    )
    if record is None:
        return None
    invoice = record["invoice"]
    return invoice if isinstance(invoice, dict) else invoice_retrieve(_invoice_id(invoice))


def _invoice_id(value: Any) -> str:
    return value if isinstance(value, str) else str(value["id"])


def mandate_retrieve(mandate_id: str) -> StripeDict:
    return _get(_path("mandates", mandate_id))


def payout_retrieve(payout_id: str) -> StripeDict:
    return _get(_path("payouts", payout_id))


def balance_transactions_for_payout(payout_id: str) -> Iterator[StripeDict]:
    page = client().v1.balance_transactions.list(
        {"payout": payout_id, "limit": 100, "expand": ["data.source"]}
    )
    for balance in page.auto_paging_iter():
        yield _plain(balance)


def events_page(
    *, created_after: int, starting_after: str | None = None, limit: int = 100
) -> StripeDict:
    """One page of the events created after the given Unix time, newest first (Stripe's order),
    continuing after the event `starting_after`; `has_more` says whether another page follows.

    Read as the JSON Stripe sent: StripeObject.to_dict() turns `amount_decimal` fields into
    Decimal, which the inbox cannot store as JSON.
    """
    params: dict[str, Any] = {"created": {"gt": created_after}, "limit": limit}
    if starting_after:
        params["starting_after"] = starting_after
    response = client().raw_request("get", "/v1/events", **params)
    page: StripeDict = response.data
    return page


def events_since(created_after: int) -> Iterator[StripeDict]:
    """Every event created after the given Unix time, oldest first (all pages held at once:
    reconcile pages through donations.reconcile instead)."""
    events: list[StripeDict] = []
    after: str | None = None
    while True:
        page = events_page(created_after=created_after, starting_after=after)
        events += page["data"]
        if not page["has_more"] or not page["data"]:
            break
        after = page["data"][-1]["id"]
    yield from reversed(events)
