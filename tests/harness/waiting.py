from __future__ import annotations

import time
from collections.abc import Callable


def wait_until[T](check: Callable[[], T], *, timeout: float = 30, interval: float = 0.1) -> T:
    """Poll until check() returns something truthy; fail with the last value after timeout."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout}s (last value: {value!r})")
        time.sleep(interval)
        value = check()
    return value
