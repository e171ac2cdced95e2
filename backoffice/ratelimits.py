"""Staff login attempts, counted in the shared Redis cache (django-ratelimit, as for sign-ups).

Only failed attempts count, per client address and per username, so a person who types the
right password and code is never slowed down, and guessing one account from many addresses
stops as surely as guessing many accounts from one.
"""

from __future__ import annotations

import hashlib

import structlog
from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage  # type: ignore[import-untyped]  # untyped library
from redis.exceptions import RedisError

from campaign.ratelimits import client_ip

log = structlog.get_logger(__name__)


def _buckets(request: HttpRequest, username: str) -> list[tuple[str, str, str]]:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    return [
        ("staff-login:ip", client_ip(request) or "unknown", settings.BACKOFFICE_RATE_LOGIN_IP),
        ("staff-login:user", digest, settings.BACKOFFICE_RATE_LOGIN_USER),
    ]


def _usage(request: HttpRequest, group: str, value: str, rate: str, *, increment: bool) -> bool:
    try:
        usage = get_usage(
            request, group=group, key=lambda _g, _r: value, rate=rate, increment=increment
        )
    except (RedisError, OSError) as exc:
        # Counters only: a Redis outage must not lock staff out (the second factor still holds).
        log.warning("ratelimit.unavailable", group=group, error=type(exc).__name__)
        return False
    if not usage:
        return False
    # Peeking reads the failures so far: the budget is used up once they reach the limit.
    return bool(usage["should_limit"] if increment else usage["count"] >= usage["limit"])


def login_blocked(request: HttpRequest, username: str) -> bool:
    """Whether earlier failures from this address or for this username used up the budget."""
    return any(
        _usage(request, group, value, rate, increment=False)
        for group, value, rate in _buckets(request, username)
    )


def login_failed(request: HttpRequest, username: str) -> None:
    for group, value, rate in _buckets(request, username):
        _usage(request, group, value, rate, increment=True)
