"""Helpers for the fault tests: the production timers, recovery clocks, a sink's progress."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import pairwise

from tests.mailing.sink import SinkProcess

# The bound the issue sets: a mailing sends again within this long after a fault ends.
RECOVERY_SECONDS = 90.0


def fault_env(sink: SinkProcess, **extra: str) -> dict[str, str]:
    """Worker and beat settings: the production defaults for every recovery timer (sweep,
    stale claim, re-dispatch, connection backoff). Only the tick is faster than in production
    (1 s, not 10 s), so that mailings start at once; recovery is asserted within 90 s anyway."""
    return {
        "EMAIL_URL": sink.url,
        "SITE_URL": "https://www.savethechildren.example",
        "MAILING_TICK_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def longest_pause_after(sink: SinkProcess, fault_ended: float) -> float:
    """The longest the sink waited for mail after the fault ended (unix time), counting from
    then; call once the mailing has finished."""
    times = [fault_ended, *(t for t in sink.accepted_at() if t > fault_ended)]
    return max((b - a for a, b in pairwise(times)), default=0.0)


def delivered_once_each(sink: SinkProcess, addresses: set[str]) -> int:
    """Asserts every address got the mail and nobody else did, each repeat with the same
    Message-ID; returns the number of repeats."""
    lines = sink.lines()
    per_address = Counter(address for address, _ in lines)
    ids: dict[str, set[str]] = defaultdict(set)
    for address, message_id in lines:
        ids[address].add(message_id)
    assert set(per_address) == addresses, (
        f"missing {len(addresses - set(per_address))}, unexpected "
        f"{len(set(per_address) - addresses)}"
    )
    assert all(len(found) == 1 for found in ids.values()), "a repeat carries the same Message-ID"
    return sum(n - 1 for n in per_address.values())
