"""The fake account: its objects, its clock, its events, behind one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from devstripe import templates
from devstripe.store import Store
from devstripe.templates import Obj


class SavingLock:
    """A re-entrant lock that, when its outermost holder lets go, calls `on_release` (still
    holding it): the state file is written after a change and before anyone sees it."""

    def __init__(self, on_release: Callable[[], None]) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # only the holding thread changes it
        self._on_release = on_release

    def __enter__(self) -> SavingLock:
        self._lock.acquire()
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._depth == 1:
                self._on_release()
        finally:
            self._depth -= 1
            self._lock.release()


class State:
    def __init__(self) -> None:
        # One re-entrant lock around every read and write: HTTP handler threads, the test's
        # own control calls and the webhook sender all go through it.
        self.lock = SavingLock(self._released)
        self.store = Store()
        self.events: list[Obj] = []
        # Idempotency-Key -> (method, path, params) and the first answer (api.py replays it).
        self.idempotent: dict[str, tuple[tuple[str, ...], Any]] = {}
        # `--state-file`: writes the whole account (devstripe/persist.py); None: memory only.
        self.saver: Callable[[], None] | None = None
        self.dirty = False
        self.clock_offset = 0
        self.base_url = ""
        # Seconds after which a delayed payment (SEPA) paid or failed on the checkout page
        # settles by itself (`--settle-after`, the demo); None: only when told to (tests).
        self.settle_after: float | None = None
        self._request = threading.local()
        # Called (under the lock) with each new event: the webhook sender queues it.
        self.on_event: Callable[[Obj], None] = lambda event: None

    def touch(self) -> None:
        """Something changed: save it when the lock is let go (with a state file)."""
        self.dirty = True

    def _released(self) -> None:
        if (self.dirty or self.store.changed) and self.saver is not None:
            self.saver()
        self.dirty = self.store.changed = False

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
        self.touch()
        self.on_event(event)
        return event

    def changed(self, type: str, obj: Obj, **changes: Any) -> Obj:
        """Apply `changes` to `obj` and emit `type` with the old values as previous_attributes."""
        previous = {key: obj.get(key) for key in changes}
        obj.update(changes)
        return self.emit(type, obj, previous)
