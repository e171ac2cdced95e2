"""The shared Redis cache keeps one client per connection pool (config/cache.py) instead of
building one per call, and works the same from many threads at once (gunicorn's)."""

from __future__ import annotations

import threading
import uuid

from django.core.cache import cache


def test_calls_share_one_client_and_threads_share_it_safely() -> None:
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    assert cache._cache.get_client(write=True) is client  # type: ignore[attr-defined]

    prefix = f"cache-test-{uuid.uuid4().hex}"
    failures: list[str] = []

    def work(n: int) -> None:
        for i in range(50):
            key = f"{prefix}-{n}-{i}"
            if not cache.add(key, (n, i), timeout=30) or cache.get(key) != (n, i):
                failures.append(key)
            cache.delete(key)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert cache.get(f"{prefix}-0-0") is None
