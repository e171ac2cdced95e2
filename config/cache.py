"""Django's Redis cache with one client per connection pool.

Django's RedisCacheClient builds a new redis.Redis for every cache call: ~0.2 ms of setting up
its response callbacks each time, more than the round trip itself, on paths that make a call
per request (a sign-up's wake-up nudge) or per batch (the Stripe drain's). A client is
thread-safe and holds nothing of its own but the pool, so one per pool does the same work.
"""

from __future__ import annotations

from typing import Any

import redis
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _OneClientPerPool(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]  # not in the stubs
        client = self._clients.get(id(pool))
        if client is None:
            make = self._client  # type: ignore[attr-defined]  # redis.Redis, not in the stubs
            client = self._clients[id(pool)] = make(connection_pool=pool)
        return client


class PooledRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _OneClientPerPool


def redis_client() -> redis.Redis:
    """The shared cache's own client, for what the cache API cannot say (a Lua script): the
    same pool as every cache call. Keys are not prefixed here: use cache.make_key."""
    client: redis.Redis = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    return client
