"""Signed bodies that are not Stripe events: 400 and nothing stored, never a 5xx; signature
times checked in both directions."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from donations.models import StripeEvent

# Rolled back after each test, which is much faster than emptying the tables; tests whose
# bodies PostgreSQL itself refuses need real transactions (the failed INSERT aborts the one
# around the test).
pytestmark = pytest.mark.django_db
SECRET = "whsec_test_malformed"
TOLERANCE = 300  # Stripe's, in seconds
FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def webhook_secret(settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def _event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "bench.unknown_type",
        "created": int(time.time()),
        "data": {"object": {"id": "obj_1", "object": "thing"}},
    }
    event.update(fields)
    return event


def _post(client: Client, body: bytes, *, at: int | None = None) -> int:
    """POST the body signed as Stripe signs: HMAC-SHA256 of `t.` + the bytes as sent."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    response = client.post(
        "/stripe/webhook/",
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": f"t={timestamp},v1={mac.hexdigest()}"},
    )
    return int(response.status_code)


def _without(key: str) -> dict[str, Any]:
    event = _event()
    del event[key]
    return event


MALFORMED: dict[str, bytes] = {
    "invalid UTF-8": b'{"id": "evt_1", "type": "x.y", "note": "\xff\xfe"}',
    "truncated JSON": b'{"id": "evt_1", "type":',
    "array": b"[]",
    "number": b"42",
    "string": b'"evt_1"',
    "null": b"null",
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "created as a string": json.dumps(_event(created="1764920000")).encode(),
    "created huge": json.dumps(_event(created=10**30)).encode(),
    "created negative": json.dumps(_event(created=-1)).encode(),
    "created a float": json.dumps(_event(created=1764920000.5)).encode(),
    "created true": json.dumps(_event(created=True)).encode(),
    "created missing": json.dumps(_without("created")).encode(),
    "data a list": json.dumps(_event(data=[{"object": {}}])).encode(),
    "data missing": json.dumps(_without("data")).encode(),
    "data.object a string": json.dumps(_event(data={"object": "pi_1"})).encode(),
    "data.object a list": json.dumps(_event(data={"object": []})).encode(),
    "data.object missing": json.dumps(_event(data={})).encode(),
    "a 10k-character id": json.dumps(_event(id="evt_" + "a" * 10_000)).encode(),
    "id missing": json.dumps(_without("id")).encode(),
    "id a number": json.dumps(_event(id=12345)).encode(),
    "id empty": json.dumps(_event(id="")).encode(),
    "id with a NUL": json.dumps(_event(id="evt_\x00")).encode(),
    "type missing": json.dumps(_without("type")).encode(),
    "type an object": json.dumps(_event(type={"a": 1})).encode(),
    "type 101 characters": json.dumps(_event(type="t" * 101)).encode(),
}
# Sound envelopes with JSON that PostgreSQL's jsonb refuses.
REFUSED_BY_DATABASE: dict[str, bytes] = {
    "NUL in a string": json.dumps(_event(data={"object": {"note": "a\x00b"}})).encode(),
    "lone surrogate": json.dumps(_event(data={"object": {"note": "\ud800"}})).encode(),
    "NaN": json.dumps(_event(data={"object": {"amount": float("nan")}})).encode(),
    "Infinity": json.dumps(_event(data={"object": {"amount": float("inf")}})).encode(),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_signed_body_that_is_no_event_gets_400_and_is_not_stored(
    client: Client, body: bytes
) -> None:
    assert _post(client, body) == 400
    assert StripeEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", REFUSED_BY_DATABASE.values(), ids=REFUSED_BY_DATABASE.keys())
def test_json_the_database_refuses_gets_400_not_503(client: Client, body: bytes) -> None:
    assert _post(client, body) == 400
    assert StripeEvent.objects.count() == 0
    # The connection is still good for the next event.
    assert _post(client, json.dumps(_event()).encode()) == 200


def test_odd_contents_inside_a_sound_envelope_are_stored(client: Client) -> None:
    # Only the envelope is the webhook's business; the drain judges the object itself.
    event = _event(data={"object": {"metadata": ["not", "a", "dict"], "amount": 10**40}})

    assert _post(client, json.dumps(event).encode()) == 200
    assert StripeEvent.objects.get().stripe_id == event["id"]


@pytest.mark.parametrize(
    ("offset", "status"),
    [(-TOLERANCE - 5, 400), (-TOLERANCE + 60, 200), (TOLERANCE - 60, 200), (TOLERANCE + 5, 400)],
)
def test_signature_time_is_checked_in_both_directions(
    client: Client, offset: int, status: int
) -> None:
    body = json.dumps(_event()).encode()

    assert _post(client, body, at=int(time.time()) + offset) == status
    assert StripeEvent.objects.count() == (1 if status == 200 else 0)


# -- fuzzing --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
# An envelope field replaced by something Stripe never sends there.
FAULTS: dict[str, Any] = {
    "id": st.one_of(
        st.none(),
        st.integers(),
        st.just(""),
        st.text(min_size=256, max_size=300),
        st.lists(st.text()),
    ),
    "type": st.one_of(st.none(), st.integers(), st.just(""), st.text(min_size=101, max_size=120)),
    "created": st.one_of(
        st.text(),
        st.floats(),
        st.booleans(),
        st.integers(max_value=-1),
        st.integers(min_value=10**12),
    ),
    "data": st.one_of(
        st.lists(json_values),
        st.text(),
        st.integers(),
        st.fixed_dictionaries({"object": st.one_of(st.text(), st.lists(json_values), st.none())}),
    ),
}


@st.composite
def broken_events(draw: st.DrawFn) -> bytes:
    """A real-looking event with one envelope fault (or dropped field), or its bytes broken."""
    event = _event(data={"object": draw(st.dictionaries(st.text(max_size=8), json_values))})
    field = draw(st.sampled_from([*FAULTS, "drop", "bytes"]))
    if field == "drop":
        del event[draw(st.sampled_from(["id", "type", "created", "data"]))]
    elif field != "bytes":
        event[field] = draw(FAULTS[field])
    body = json.dumps(event).encode()
    if field == "bytes":  # an invalid UTF-8 sequence somewhere in the body
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + body[at:]
    return body


@FUZZ
@given(body=broken_events())
def test_fuzzed_broken_events_get_400_and_store_nothing(client: Client, body: bytes) -> None:
    before = StripeEvent.objects.count()

    assert _post(client, body) == 400
    assert StripeEvent.objects.count() == before


any_body = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(lambda obj: json.dumps(_event(data={"object": obj})).encode(), json_values),
    st.text().map(str.encode),
    st.binary(max_size=200),
)


@pytest.mark.django_db(transaction=True)  # some bodies are refused by PostgreSQL itself
@FUZZ
@given(body=any_body)
def test_any_signed_body_gets_200_or_400_and_only_200_stores(client: Client, body: bytes) -> None:
    before = set(StripeEvent.objects.values_list("stripe_id", flat=True))

    status = _post(client, body)

    after = set(StripeEvent.objects.values_list("stripe_id", flat=True))
    assert status in {200, 400}
    if status == 400:
        assert after == before
    else:
        event_id = json.loads(body)["id"]
        assert event_id in after
        assert after - before <= {event_id}
