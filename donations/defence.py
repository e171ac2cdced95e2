"""Card-testing defence for the donate page.

Card testers push many stolen card numbers through a donation form, in small amounts, from a
few addresses. Four layers, each logged when it blocks: a honeypot field (in the form), the
minimum amount (settings.DONATION_MIN_CENTS, in the form), rate limits on new checkouts per IP
and per email (Redis, may be flushed: they only slow a burst down), and a velocity rule that
refuses an IP after repeated declined gifts. The velocity rule is a query on our own donations
in PostgreSQL, so it survives a Redis flush and needs no state of its own.

Addresses and rate counting are campaign.ratelimits', shared with the sign-up form, so the
whole site reads the client address from one trusted META key.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from enum import StrEnum

import structlog
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from campaign import ratelimits
from donations.models import Donation, DonationStatus

log = structlog.get_logger(__name__)


class Block(StrEnum):
    HONEYPOT = "honeypot"
    MIN_AMOUNT = "below_minimum"
    RATE_IP = "rate_limit_ip"
    RATE_EMAIL = "rate_limit_email"
    DECLINES = "ip_declines"


def email_digest(email: str) -> str:
    """A short, stable stand-in for an address in logs and cache keys (no address in logs)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def blocked_log(reason: Block, *, ip: str | None, email: str = "") -> None:
    log.warning(
        "donations.checkout_blocked",
        reason=str(reason),
        ip=ip,
        email=email_digest(email) if email else None,
    )


def checkout_rate_limited(request: HttpRequest, *, email: str) -> Block | None:
    """Count one new checkout against the IP and the email budgets; the first one spent wins.

    Both are counted, so a tester switching emails still spends the IP budget. Redis down:
    campaign.ratelimits lets the request through; the velocity rule below still holds.
    """
    group = "donations.checkout"
    over_ip = ratelimits.hit_ip(
        request, group=group, rate=settings.DONATIONS_RATE_CHECKOUT_IP
    ).limited
    over_email = (
        bool(email)
        and ratelimits.hit_email(
            request, group=group, email=email, rate=settings.DONATIONS_RATE_CHECKOUT_EMAIL
        ).limited
    )
    if over_ip:
        return Block.RATE_IP
    if over_email:
        return Block.RATE_EMAIL
    return None


def recent_declines(ip: str) -> int:
    """Gifts from this address that failed within the window (declined or abandoned)."""
    since = timezone.now() - timedelta(seconds=settings.DECLINE_BLOCK_WINDOW_SECONDS)
    return Donation.objects.filter(
        client_ip=ip, status=DonationStatus.FAILED, created_at__gte=since
    ).count()


def ip_blocked(ip: str | None) -> bool:
    return ip is not None and recent_declines(ip) >= settings.DECLINE_BLOCK_THRESHOLD


def decline_recorded(donation: Donation) -> None:
    """Called when a gift becomes failed: log the moment its address crosses the threshold.

    Nothing is stored: the donate view asks `ip_blocked` on every submit, so the block starts
    with this very row and ends by itself once the declines age out of the window.
    """
    if not donation.client_ip:
        return
    count = recent_declines(donation.client_ip)
    if count == settings.DECLINE_BLOCK_THRESHOLD:
        log.warning(
            "donations.ip_blocked_after_declines",
            ip=donation.client_ip,
            declines=count,
            window_seconds=settings.DECLINE_BLOCK_WINDOW_SECONDS,
        )
