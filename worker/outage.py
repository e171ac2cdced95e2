"""Say once per interval what is down and what waits for it, instead of once per failure.

During an outage every task and request fails the same way; a traceback each would bury the
one line that matters. `waiting("database", "mailing 12", rows=250)` counts the waiter and
logs one warning per WARN_INTERVAL per process and outside system:

    outage.waiting down=database waiting={"mailing 12": 5750, "task x": 3} for_seconds=20

Numbers are summed between two warnings (rows, tasks, requests): what waited in that interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

WARN_INTERVAL = 30.0


@dataclass
class _Outage:
    since: float
    last_seen: float
    warned_at: float = 0.0
    waiting: Counter[str] = field(default_factory=Counter)
    last_error: str = ""


_lock = threading.Lock()
_outages: dict[str, _Outage] = {}


def waiting(down: str, what: str, *, count: int = 1, error: str = "") -> bool:
    """Record that `count` of `what` (a mailing's rows, a task, a request) wait for `down`.
    Logs a warning at the first call and then at most once per WARN_INTERVAL; True if it did."""
    now = time.monotonic()
    with _lock:
        outage = _outages.get(down)
        if outage is None or now - outage.last_seen > 2 * WARN_INTERVAL:
            # Nothing failed for a while: whatever this is, it is a new outage.
            outage = _outages[down] = _Outage(since=now, last_seen=now)
        outage.last_seen = now
        outage.waiting[what] += count
        outage.last_error = error or outage.last_error
        if outage.warned_at and now - outage.warned_at < WARN_INTERVAL:
            return False
        outage.warned_at = now
        summary = dict(outage.waiting)
        outage.waiting.clear()
        since = now - outage.since
    log.warning(
        "outage.waiting",
        down=down,
        waiting=summary,
        for_seconds=round(since),
        error=error,
    )
    return True


def recovered(down: str) -> None:
    """The outside system answers again: the next failure starts a new outage (warned at once)."""
    with _lock:
        outage = _outages.pop(down, None)
    if outage is not None:
        log.warning("outage.over", down=down, lasted_seconds=round(time.monotonic() - outage.since))


def current() -> dict[str, float]:
    """Outside systems this process saw down and has not seen recover: seconds since each."""
    now = time.monotonic()
    with _lock:
        return {down: now - o.since for down, o in _outages.items()}


class OutageLogFilter(logging.Filter):
    """Drops the traceback of a request or task that failed because PostgreSQL or the broker is
    down, counting it in the outage warning instead (config/logs.py installs it): a 20 s
    database outage must not write a traceback for every request."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None:
            return True
        from worker.retry import what_is_down  # celery and kombu: only once a failure is seen

        down = what_is_down(error)
        if down == "unknown":
            return True
        what = "web requests" if record.name.startswith("django") else "tasks"
        waiting(down, what, error=f"{type(error).__name__}: {error}"[:300])
        return False
