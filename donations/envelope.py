"""The shape every Stripe event must have before the inbox stores it.

A body can carry a valid signature and still not be an event (a bug at the sender, a leaked
secret, a test tool): checked here with a few type and length tests, so it gets 400 and is
never stored, instead of failing in the INSERT or in a drain. Cheap enough for the webhook's
hot path (no queries); the reconcile checks each listed event the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Stripe's ids and event types; the lengths are those of the inbox's columns.
_EVENT_ID = re.compile(r"[A-Za-z0-9_\-]{1,255}")
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.]{1,100}")
# Unix seconds up to the year 9999: what a datetime (and the inbox's column) holds.
CREATED_MAX = 253_402_300_799


class MalformedEvent(ValueError):
    """A (signed) body that is not a Stripe event we can store."""


def event_parse(body: bytes | str) -> dict[str, Any]:
    """The event in a webhook body, or MalformedEvent."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson is the fast path of every delivery (about twice the standard library's speed).
        # What it refuses and the standard library reads (NaN, integers past 64 bits, nesting
        # past 1,024) is read as before: which bodies are JSON does not change.
        try:
            event = json.loads(body)
        except (ValueError, RecursionError) as exc:  # invalid UTF-8 or JSON; nesting too deep
            raise MalformedEvent(f"not JSON: {type(exc).__name__}") from None
    return event_check(event)


def event_check(event: Any) -> dict[str, Any]:
    """The event itself when its envelope is sound; MalformedEvent naming the first fault."""
    if not isinstance(event, dict):
        raise MalformedEvent("not a JSON object")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise MalformedEvent("id missing or not an event id")
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise MalformedEvent("type missing or not an event type")
    created = event.get("created")
    # bool is an int to Python, not to Stripe.
    if type(created) is not int or not 0 <= created <= CREATED_MAX:
        raise MalformedEvent("created missing or not a Unix time")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise MalformedEvent("data.object missing or not an object")
    return event
