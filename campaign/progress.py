"""The campaign's progress line on the landing page: euros raised and supporters who signed up.

Euros live in donations' ledger, and campaign may not import donations (DESIGN.md: dependencies
point one way). So donations registers the selector that sums its ledger when its app is ready
(as it registers its personal-data provider), and campaign calls whatever was registered. We
chose that over a number donations writes into a campaign-owned table or cache key: the ledger
stays the only truth, nothing has to be kept in step or rebuilt after a Redis flush, and the
figure is the same one finance sees. The pair is cached briefly in Redis (the landing page is
the busiest page) and dropped when a gift, a refund or a confirmation commits, so the line
moves at once; a Redis outage only costs the cache, never the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.core.cache import cache

from campaign.models import Supporter
from worker.wake import on_commit_once

CACHE_KEY = "campaign:progress:v1"
CACHE_SECONDS = 60

log = structlog.get_logger(__name__)

_raised: list[Callable[[], int]] = []


@dataclass(frozen=True)
class Progress:
    raised_cents: int  # euro cents of gifts less what refunds and disputes took back
    supporters: int  # people who confirmed their sign-up and were not erased


def register_raised_source(source: Callable[[], int]) -> None:
    """Donations tells campaign how to read the euros raised (once, at app ready)."""
    _raised[:] = [source]


def _compute() -> Progress:
    supporters = (
        Supporter.objects.filter(confirmed_at__isnull=False)
        .exclude(status=Supporter.Status.ERASED)
        .count()
    )
    raised = _raised[0]() if _raised else 0
    return Progress(raised_cents=max(raised, 0), supporters=supporters)


def campaign_progress() -> Progress:
    try:
        cached = cache.get(CACHE_KEY)
    except Exception:  # noqa: BLE001 - Redis down: the page is served from PostgreSQL
        log.warning("campaign.progress.cache_unavailable")
        return _compute()
    if isinstance(cached, tuple) and len(cached) == 2:
        return Progress(raised_cents=int(cached[0]), supporters=int(cached[1]))
    progress = _compute()
    try:
        cache.set(CACHE_KEY, (progress.raised_cents, progress.supporters), CACHE_SECONDS)
    except Exception:  # noqa: BLE001 - as above
        log.warning("campaign.progress.cache_unavailable")
    return progress


def _forget_now() -> None:
    try:
        cache.delete(CACHE_KEY)
    except Exception:  # noqa: BLE001 - the short TTL ends a stale figure anyway
        log.warning("campaign.progress.cache_unavailable")


def forget_progress(**_kwargs: Any) -> None:
    """Receiver of donation_succeeded, donation_reversed and supporter_confirmed: the cached
    line is dropped once the change is committed (these events come inside its transaction)."""
    on_commit_once(_forget_now)


def connect() -> None:
    from campaign.events import donation_reversed, gifts_connect, supporter_confirmed

    for signal in (donation_reversed, supporter_confirmed):
        signal.connect(forget_progress, dispatch_uid=f"campaign.progress.{id(signal)}")
    gifts_connect(forget_progress, together=forget_progress, dispatch_uid="campaign.progress.gifts")
