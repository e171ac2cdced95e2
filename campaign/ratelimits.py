"""Rate limits for sign-up and re-send, counted in the shared Redis cache.

Redis holds only counters here: when it is unreachable we let the request through (and log it)
rather than turn supporters away; the honeypot and syntax checks still apply.

A sign-up counts its address and its email in one round trip (`hit_signup`, a Lua script: a
TV appeal brings thousands a minute); re-sends and the donate page's defence count one bucket
at a time through django-ratelimit.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django_ratelimit.core import get_usage  # type: ignore[import-untyped]  # untyped library
from redis.exceptions import RedisError

from campaign import wording

# The one reading of the client's address (trusted proxies), re-exported for the views here.
from config.cache import redis_client
from config.client_address import client_ip

__all__ = ["SignupVerdict", "Verdict", "client_ip", "hit", "hit_email", "hit_ip", "hit_signup"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Verdict:
    limited: bool
    retry_after: int = 0


def _ip_bucket(ip: str | None) -> str:
    if ip is None:
        return "unknown"
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        # One IPv6 user usually holds a whole /64.
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return ip


def hit(request: HttpRequest, *, group: str, value: str, rate: str) -> Verdict:
    """Count one attempt against (group, value) and say whether it is over the rate."""
    try:
        usage = get_usage(
            request, group=group, key=lambda _group, _request: value, rate=rate, increment=True
        )
    except (RedisError, OSError) as exc:
        log.warning("ratelimit.unavailable", group=group, error=type(exc).__name__)
        return Verdict(limited=False)
    if usage is None or not usage["should_limit"]:
        return Verdict(limited=False)
    return Verdict(limited=True, retry_after=max(int(usage["time_left"]), 1))


def hit_ip(request: HttpRequest, *, group: str, rate: str) -> Verdict:
    return hit(request, group=f"{group}:ip", value=_ip_bucket(client_ip(request)), rate=rate)


def hit_email(request: HttpRequest, *, group: str, email: str, rate: str) -> Verdict:
    # A digest, so the address itself is never a Redis key (django-ratelimit hashes it again).
    digest = hashlib.sha256(email.lower().encode()).hexdigest()
    return hit(request, group=f"{group}:email", value=digest, rate=rate)


# --- sign-ups: every bucket in one round trip -------------------------------------------------

# Fixed windows: a counter lives `seconds` from its first hit. Buckets are counted in order and
# counting stops at the first one over its limit, so a request refused for its address does not
# use up its email's budget (as two separate checks did). KEYS: the consent wording's
# generation (campaign.wording), then the buckets; ARGV: a new generation (stored only when
# there is none), then each bucket's limit and seconds. Returns {index of the bucket over its
# limit, its seconds left, the generation}, or {0, 0, the generation}.
_COUNT_SCRIPT = """
local generation = redis.call('GET', KEYS[1])
if not generation then
  generation = ARGV[1]
  redis.call('SET', KEYS[1], generation)
end
for i = 2, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i - 1]) end
  if count > tonumber(ARGV[2 * i - 2]) then
    return {i - 1, redis.call('TTL', KEYS[i]), generation}
  end
end
return {0, 0, generation}
"""
_RATE = re.compile(r"^(\d+)/(\d*)([smhd])$")
_PERIOD = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class SignupVerdict:
    ip: Verdict
    email_limited: bool
    # The consent wording's generation (campaign.wording), read before any wording is.
    wording: bytes | None = None


def _limit(rate: str) -> tuple[int, int]:
    """django-ratelimit's notation: "30/10m" is (30, 600)."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"not a rate: {rate!r} (write e.g. 30/10m or 3/h)")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * _PERIOD[unit]


def hit_signup(request: HttpRequest, *, email: str | None) -> SignupVerdict:
    """Count a sign-up against its network's budget and, when the request carries a valid
    address, that address's budget, and read the consent wording's generation: one Redis round
    trip."""
    buckets = [(f"signup:ip:{_ip_bucket(client_ip(request))}", settings.SUPPORTERS_RATE_SIGNUP_IP)]
    if email is not None:
        digest = hashlib.sha256(email.lower().encode()).hexdigest()
        buckets.append((f"signup:email:{digest}", settings.SUPPORTERS_RATE_SIGNUP_EMAIL))
    keys = [wording.generation_key(), *(cache.make_key(f"rl:{name}") for name, _rate in buckets)]
    args: list[str | int] = [
        wording.generation_new(),
        *(value for _name, rate in buckets for value in _limit(rate)),
    ]
    try:
        count = redis_client().register_script(_COUNT_SCRIPT)  # its SHA, no round trip
        over, seconds_left, generation = count(keys=keys, args=args)
    except (RedisError, OSError) as exc:
        log.warning("ratelimit.unavailable", group="signup", error=type(exc).__name__)
        return SignupVerdict(ip=Verdict(limited=False), email_limited=False)
    if over == 1:
        return SignupVerdict(
            ip=Verdict(limited=True, retry_after=max(int(seconds_left), 1)),
            email_limited=False,
            wording=generation,
        )
    return SignupVerdict(ip=Verdict(limited=False), email_limited=over == 2, wording=generation)
