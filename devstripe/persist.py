"""`--state-file`: the fake account on disk, so a devstripe stopped half-way (Ctrl-C, a kill)
starts again with the same objects, events, clock and idempotency keys.

Plain JSON (every object is plain data), written whole after every change: to a temporary file
beside it, then os.replace, so a kill mid-write leaves the previous state, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from devstripe.api import Response
from devstripe.state import State

FORMAT = 1


def snapshot(state: State) -> dict[str, Any]:
    store = state.store
    return {
        "format": FORMAT,
        "objects": list(store._objects.values()),  # in the order they were made
        "order": store._order,
        "next_order": max(store._order.values(), default=-1) + 1,
        "private": store.private,
        "events": [event["id"] for event in state.events],
        "clock_offset": state.clock_offset,
        "idempotent": {
            key: [list(fingerprint), r.status, r.body.decode(), r.headers]
            for key, (fingerprint, r) in state.idempotent.items()
        },
    }


def restore(state: State, data: dict[str, Any]) -> None:
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown devstripe state format {data.get('format')!r}")
    store = state.store
    for obj in data["objects"]:
        store.load(obj)
    store._order = {obj_id: int(n) for obj_id, n in data["order"].items()}
    store.restart_order(int(data["next_order"]))
    store.private = data["private"]
    # The same dicts as in the store: delivering an event flips its pending_webhooks there.
    state.events = [store._objects[event_id] for event_id in data["events"]]
    state.clock_offset = int(data["clock_offset"])
    state.idempotent.clear()
    for key, (fingerprint, status, body, headers) in data["idempotent"].items():
        state.idempotent[key] = (tuple(fingerprint), Response(status, body.encode(), headers))


def save(state: State, path: Path) -> None:
    """Called under the state lock, so no change can slip in between two writes."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(snapshot(state), separators=(",", ":")))
    os.replace(temporary, path)


def load(state: State, path: Path) -> bool:
    """Fill a new State from `path`; False when there is no such file yet."""
    if not path.exists():
        return False
    restore(state, json.loads(path.read_text()))
    return True
