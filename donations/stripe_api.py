"""Everything we ask of Stripe. The only module that imports `stripe`.

One function per call; the API version is pinned; idempotency keys come from our own ids, so a
retried request (a double click, a task retry) never creates a second object. STRIPE_API_BASE
points the client at a local Stripe-speaking server in tests and demos.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

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
    return obj.to_dict()


@cache
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    addresses: Any = {"api": api_base} if api_base else None
    return stripe.StripeClient(
        api_key, stripe_version=API_VERSION, base_addresses=addresses, max_network_retries=2
    )


def client() -> stripe.StripeClient:
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


def webhook_verify(payload: bytes, signature_header: str | None) -> None:
    """Raise SignatureError unless the body was signed with our secret within the tolerance.

    Only the HMAC check: building a stripe.Event costs ~30x more and is left to the worker.
    """
    stripe.WebhookSignature.verify_header(
        payload, signature_header, settings.STRIPE_WEBHOOK_SECRET, SIGNATURE_TOLERANCE
    )


def checkout_session_create(*, params: dict[str, Any], idempotency_key: str) -> StripeDict:
    return _plain(
        client().v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]  # built by donations.checkout, checked by tests
            {"idempotency_key": idempotency_key},
        )
    )


def checkout_session_retrieve(session_id: str) -> StripeDict:
    return _plain(
        client().v1.checkout.sessions.retrieve(
            # The charge's balance comes along: one call gives the gift's amount and fee.
            session_id,
            {"expand": ["payment_intent.latest_charge.balance_transaction", "subscription"]},
        )
    )


def payment_intent_retrieve(payment_intent_id: str) -> StripeDict:
    return _plain(
        client().v1.payment_intents.retrieve(
            payment_intent_id,
            {"expand": ["latest_charge.balance_transaction", "payment_method"]},
        )
    )


def charge_retrieve(charge_id: str) -> StripeDict:
    return _plain(
        client().v1.charges.retrieve(
            charge_id, {"expand": ["balance_transaction", "refunds.data.balance_transaction"]}
        )
    )


def dispute_retrieve(dispute_id: str) -> StripeDict:
    # A dispute's balance_transactions always come in full (they are not expandable).
    return _plain(client().v1.disputes.retrieve(dispute_id))


def invoice_retrieve(invoice_id: str) -> StripeDict:
    return _plain(client().v1.invoices.retrieve(invoice_id, {"expand": ["payments"]}))


def subscription_retrieve(subscription_id: str) -> StripeDict:
    return _plain(
        client().v1.subscriptions.retrieve(subscription_id, {"expand": ["default_payment_method"]})
    )


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


def mandate_retrieve(mandate_id: str) -> StripeDict:
    return _plain(client().v1.mandates.retrieve(mandate_id))


def payout_retrieve(payout_id: str) -> StripeDict:
    return _plain(client().v1.payouts.retrieve(payout_id))


def balance_transactions_for_payout(payout_id: str) -> Iterator[StripeDict]:
    page = client().v1.balance_transactions.list(
        {"payout": payout_id, "limit": 100, "expand": ["data.source"]}
    )
    for balance in page.auto_paging_iter():
        yield _plain(balance)


def events_since(created_after: int) -> Iterator[StripeDict]:
    """Every event created after the given Unix time, oldest first."""
    page = client().v1.events.list({"created": {"gt": created_after}, "limit": 100})
    events = list(page.auto_paging_iter())  # Stripe lists newest first
    for event in reversed(events):
        yield _plain(event)
