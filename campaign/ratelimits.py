"""Rate limits for sign-up and re-send, counted in the shared Redis cache (django-ratelimit).

Redis holds only counters here: when it is unreachable we let the request through (and log it)
rather than turn supporters away; the honeypot and syntax checks still apply.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

import structlog
from django.http import HttpRequest
from django_ratelimit.core import get_usage  # type: ignore[import-untyped]  # untyped library
from redis.exceptions import RedisError

# The one reading of the client's address (trusted proxies), re-exported for the views here.
from config.client_address import client_ip

__all__ = ["Verdict", "client_ip", "hit", "hit_email", "hit_ip"]

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
