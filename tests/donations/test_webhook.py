"""POST /stripe/webhook/ with real signatures: verify, store once, answer; nothing else."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import stripe
from django.db import connections
from django.test import Client

from donations.models import EventStatus, StripeEvent

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "whsec_test_webhook_secret"


@pytest.fixture(autouse=True)
def webhook_secret(settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def _event(event_type: str = "bench.unknown_type", **data: Any) -> str:
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": {"id": "obj_1", **data}},
        }
    )


def _signed(payload: str, *, secret: str = SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return f"t={timestamp},v1={signature}"


def _post(client: Client, payload: str, signature: str | None) -> Any:
    headers = {"Stripe-Signature": signature} if signature is not None else {}
    return client.post(
        "/stripe/webhook/", data=payload, content_type="application/json", headers=headers
    )


def test_a_signed_event_is_stored_once_however_often_it_arrives(client: Client) -> None:
    payload = _event()

    answers = [_post(client, payload, _signed(payload)).status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    stored = StripeEvent.objects.get()
    assert stored.stripe_id == json.loads(payload)["id"]
    assert stored.payload == json.loads(payload)
    # No handler for this type: kept for the record, never queued for the workers.
    assert stored.status == EventStatus.IGNORED


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "t=123,v1=deadbeef",
        "garbage",
    ],
)
def test_missing_or_bad_signature_is_refused_and_stores_nothing(
    client: Client, signature: str | None
) -> None:
    response = _post(client, _event(), signature)

    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_signature_with_another_secret_is_refused(client: Client) -> None:
    payload = _event()

    response = _post(client, payload, _signed(payload, secret="whsec_someone_else"))

    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_a_tampered_body_is_refused(client: Client) -> None:
    payload = _event()
    signature = _signed(payload)

    response = _post(client, payload.replace("obj_1", "obj_2"), signature)

    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_a_replay_older_than_the_tolerance_is_refused(client: Client) -> None:
    payload = _event()

    response = _post(client, payload, _signed(payload, at=int(time.time()) - 301))
    fresh = _post(client, payload, _signed(payload, at=int(time.time()) - 200))

    assert response.status_code == 400
    assert fresh.status_code == 200
    assert StripeEvent.objects.count() == 1


def test_signed_but_malformed_json_is_refused(client: Client) -> None:
    payload = '{"not": "an event"'

    response = _post(client, payload, _signed(payload))

    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_database_outage_answers_5xx_so_stripe_retries(client: Client) -> None:
    payload = _event()
    conn = connections["default"]
    conn.close()
    saved = dict(conn.settings_dict)
    conn.settings_dict["PORT"] = "1"  # nothing listens there: the database is "down"
    try:
        response = _post(client, payload, _signed(payload))
    finally:
        conn.close()
        conn.settings_dict.update(saved)

    assert response.status_code == 503
    assert StripeEvent.objects.count() == 0
    # Stripe's retry, once the database is back, is stored as usual.
    assert _post(client, payload, _signed(payload)).status_code == 200
    assert StripeEvent.objects.count() == 1


def test_unknown_event_types_are_stored_and_marked_ignored(client: Client) -> None:
    from donations.inbox import inbox_drain

    payload = _event("issuing.card.created")
    _post(client, payload, _signed(payload))

    inbox_drain()

    event = StripeEvent.objects.get()
    assert event.status == EventStatus.IGNORED
    assert event.processed_at is not None
