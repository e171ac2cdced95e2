"""The fake account: its objects, its clock, its events, behind one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from devstripe import templates
from devstripe.store import Store
from devstripe.templates import Obj


class State:
    def __init__(self) -> None:
        # One re-entrant lock around every read and write: HTTP handler threads, the test's
        # own control calls and the webhook sender all go through it.
        self.lock = threading.RLock()
        self.store = Store()
        self.events: list[Obj] = []
        self.clock_offset = 0
        self.base_url = ""
        # Seconds after which a delayed payment (SEPA) paid or failed on the checkout page
        # settles by itself (`--settle-after`, the demo); None: only when told to (tests).
        self.settle_after: float | None = None
        self._request = threading.local()
        # Called (under the lock) with each new event: the webhook sender queues it.
        self.on_event: Callable[[Obj], None] = lambda event: None

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def set_request(self, request_id: str | None, idempotency_key: str | None) -> None:
        self._request.value = {"id": request_id, "idempotency_key": idempotency_key}

    def emit(self, type: str, obj: Obj, previous: dict[str, Any] | None = None) -> Obj:
        """Store an event whose data.object is `obj` as Stripe renders it by default."""
        request = getattr(self._request, "value", None) or {"id": None, "idempotency_key": None}
        event = templates.event(
            type=type,
            obj=self.store.render(obj),
            previous=previous,
            request=dict(request),
            now=self.now(),
        )
        self.store.add(event)
        self.events.append(event)
        self.on_event(event)
        return event

    def changed(self, type: str, obj: Obj, **changes: Any) -> Obj:
        """Apply `changes` to `obj` and emit `type` with the old values as previous_attributes."""
        previous = {key: obj.get(key) for key in changes}
        obj.update(changes)
        return self.emit(type, obj, previous)
