"""A global send rate per transport: a token bucket in Redis shared by every worker process.

The bucket refills at MAILING_RATE_PER_SECOND; a server that pushes back (421/451/452) halves
the rate for a while. The limit is best effort: with Redis unreachable, sending goes on
unthrottled rather than stopping (PostgreSQL, not Redis, decides what is sent).
"""

from __future__ import annotations

import time

import redis
import structlog
from django.conf import settings

log = structlog.get_logger(__name__)

# KEYS: bucket, penalty. ARGV: rate/s, burst. Returns seconds to wait (0 when a token was taken).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local factor = tonumber(redis.call('GET', KEYS[2]) or '1')
rate = rate * factor
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + (t - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""


class SendRateLimiter:
    def __init__(self, transport: str, *, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.bucket = f"mailing:rate:{transport}"
        self.penalty = f"mailing:rate:{transport}:penalty"
        self.client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        self.script = self.client.register_script(_TAKE)

    def take(self) -> float:
        """Take a token; returns the seconds to wait first (0 when one was free)."""
        if self.rate <= 0:
            return 0.0
        try:
            return float(
                self.script(keys=[self.bucket, self.penalty], args=[self.rate, self.burst])
            )
        except redis.RedisError as exc:
            log.warning("mailing.rate_limit_unavailable", error=str(exc))
            return 0.0

    def wait(self) -> None:
        delay = self.take()
        while delay > 0:
            time.sleep(delay)
            delay = self.take()

    def push_back(self) -> None:
        """The server said "slow down": halve the rate (down to 1/16) for the next minute."""
        try:
            current = float(self.client.get(self.penalty) or 1)
            self.client.set(self.penalty, max(current / 2, 1 / 16), ex=60)
        except redis.RedisError as exc:
            log.warning("mailing.rate_limit_unavailable", error=str(exc))
        log.warning("mailing.rate_backoff", transport=self.bucket)


def limiter_default() -> SendRateLimiter:
    return SendRateLimiter(
        "smtp", rate=settings.MAILING_RATE_PER_SECOND, burst=settings.MAILING_RATE_BURST
    )
