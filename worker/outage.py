"""Say once per interval what is down and what waits for it, instead of once per failure.

During an outage every task and request fails the same way; a traceback each would bury the
one line that matters. `waiting("database", "mailing 12", count=250, unit="recipients")`
counts the waiter, and each process logs at most once per WARN_INTERVAL and outside system one
warning per waiter, in words:

    outage.waiting mailing 12: 5,750 recipients waiting for the database  down=database ...
    outage.waiting API: 3 requests waiting for the database               down=database ...

A waiter that is counted again and again (a task retried every few seconds, a mailing whose
batches keep finding the mail server away) passes a `key`: its latest count replaces the
previous one, so it is counted once per interval. Without a key each call adds (requests).
The same counts are kept in Redis for two intervals, for /healthz and /metrics, which run in
other processes (the web server) and must answer while PostgreSQL is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from itertools import count as counter

import redis
import structlog
from django.conf import settings

log = structlog.get_logger(__name__)

WARN_INTERVAL = 30.0

# How each outside system reads in a sentence.
_NAMES = {"database": "the database", "mail server": "SMTP", "broker": "the broker"}
_REDIS_KEY = "survivors:outage:{down}"

Count = int | Callable[[], int]


@dataclass
class _Outage:
    since: float
    last_seen: float
    warned_at: float = 0.0
    # what -> key -> count (or a function giving it, called only when the warning is written)
    waiting: dict[str, dict[Hashable, Count]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    last_error: str = ""


_lock = threading.Lock()
_outages: dict[str, _Outage] = {}
_calls = counter()


def waiting(
    down: str,
    what: str,
    *,
    count: Count = 1,
    unit: str = "requests",
    key: Hashable | None = None,
    error: str = "",
) -> bool:
    """Record that `count` `unit` of `what` (a mailing's recipients, a task's runs, the API's
    requests) wait for `down`. Logs at the first call and then at most once per WARN_INTERVAL;
    True if it did."""
    now = time.monotonic()
    with _lock:
        outage = _outages.get(down)
        if outage is None or now - outage.last_seen > 2 * WARN_INTERVAL:
            # Nothing failed for a while: whatever this is, it is a new outage.
            outage = _outages[down] = _Outage(since=now, last_seen=now)
        outage.last_seen = now
        counts = outage.waiting.setdefault(what, {})
        counts[next(_calls) if key is None else key] = count
        outage.units[what] = unit
        outage.last_error = error or outage.last_error
        if outage.warned_at and now - outage.warned_at < WARN_INTERVAL:
            return False
        outage.warned_at = now
        found, units = outage.waiting, dict(outage.units)
        outage.waiting = {}
        since = now - outage.since
    summary = {what: sum(_evaluated(c) for c in counts.values()) for what, counts in found.items()}
    for what, total in summary.items():
        log.warning(
            "outage.waiting",
            message=f"{what}: {total:,} {units[what]} waiting for {_NAMES.get(down, down)}",
            down=down,
            waiting=what,
            count=total,
            for_seconds=round(since),
            error=error,
        )
    _share(down, summary)
    return True


def _evaluated(count: Count) -> int:
    if isinstance(count, int):
        return count
    try:
        return count()
    except Exception:  # noqa: BLE001 - a count is a courtesy; the warning must be written
        return 0


def recovered(down: str) -> None:
    """The outside system answers again: the next failure starts a new outage (warned at once)."""
    with _lock:
        outage = _outages.pop(down, None)
    if outage is not None:
        log.warning("outage.over", down=down, lasted_seconds=round(time.monotonic() - outage.since))
        _share(down, {})


def current() -> dict[str, float]:
    """Outside systems this process saw down and has not seen recover: seconds since each."""
    now = time.monotonic()
    with _lock:
        return {down: now - o.since for down, o in _outages.items()}


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)


def _share(down: str, summary: dict[str, int]) -> None:
    """Keep what this process saw waiting in Redis for two intervals, for /healthz and /metrics
    (per waiter the latest count any process reported). Best effort: when Redis is the one
    down, the log says it."""
    if down == "broker":
        return
    client = _redis()
    name = _REDIS_KEY.format(down=down)
    try:
        with client.pipeline() as pipe:
            if summary:
                pipe.hset(name, mapping={what: n for what, n in summary.items()})
                pipe.expire(name, int(2 * WARN_INTERVAL))
            else:
                pipe.delete(name)
            pipe.execute()
    except redis.RedisError:
        pass
    finally:
        client.close()


def shared() -> dict[str, dict[str, int]]:
    """What the processes' latest warnings said waits, e.g. {"database": {"mailing 12": 250}}."""
    client = _redis()
    found: dict[str, dict[str, int]] = {}
    try:
        for down in _NAMES:
            values = client.hgetall(_REDIS_KEY.format(down=down))
            if values:
                found[down] = {_text(k): int(v) for k, v in values.items()}
    except redis.RedisError:
        return {}
    finally:
        client.close()
    return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
        said = f"{type(error).__name__}: {error}"[:300]
        if record.name.startswith("django"):
            request = getattr(record, "request", None)
            if getattr(request, "_outage_counted", False):
                return False  # a second failure of the same request (a middleware's too)
            if request is not None:
                request._outage_counted = True
            waiting(down, _web_area(request), error=said)
        elif record.name.startswith("celery"):
            waiting(down, "tasks", unit="runs", error=said)
        else:  # our own code logged it (the webhook's "not stored, 503"): name the logger
            waiting(down, record.name, unit="failures", error=said)
        return False


def _web_area(request: object) -> str:
    """Which part of the site a failed request was for, in an operator's words."""
    path = str(getattr(request, "path_info", ""))
    if not path:
        return "web"
    if path.startswith("/api/"):
        return "API"
    if path.startswith(f"/{settings.ADMIN_PATH}"):
        return "back office"
    if path.startswith("/stripe/"):
        return "Stripe webhook"
    return "public pages"
