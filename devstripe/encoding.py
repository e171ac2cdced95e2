"""JSON out and object copies, at the speed a storm of list pages needs.

The local Stripe answers with pretty-printed JSON, as Stripe does, and renders copies of its
objects so expanding one never changes the stored one. The standard library's pretty printer
and deepcopy are pure Python and were most of this server's CPU in bench/webhook_storm.py,
CPU that real Stripe spends on its own machines, not on ours. orjson does both in C; anything
it cannot take (an int beyond 64 bits, a non-string key) falls back to the standard library.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson


def pretty(value: Any) -> bytes:
    """`value` as JSON indented by two spaces (UTF-8, as Stripe sends it)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, indent=2).encode()


def tree_copy[T](value: T) -> T:
    """A deep copy of a tree of dicts, lists and scalars."""
    try:
        copied: T = orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)
    return copied
