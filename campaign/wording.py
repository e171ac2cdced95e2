"""The current consent wording, kept by each process between changes instead of read for every
sign-up (a TV appeal brings thousands a minute).

Redis holds the wording's generation: a random token that every committed change of a
ConsentText row replaces. A sign-up reads the token in its one Redis round trip
(campaign.ratelimits.hit_signup) before it reads any wording, and a process reuses the wording
it read under that same token. Wording read after a token was read is at least as new as the
token, and every change replaces the token once it has committed, so superseded wording is
never served. Only a replacement lost to a Redis outage at that moment could leave a copy
behind: copies are dropped after MAX_AGE_SECONDS in any case. A read inside a transaction may
see rows not yet committed, so it neither uses nor fills the copy.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import structlog
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from redis.exceptions import RedisError

from campaign.models import ConsentText
from campaign.selectors import consent_texts_current
from config.cache import redis_client

log = structlog.get_logger(__name__)

MAX_AGE_SECONDS = 60

# language -> (the generation it was read under, when, the wording)
_copies: dict[str, tuple[bytes, float, dict[str, ConsentText]]] = {}


def generation_key() -> str:
    return cache.make_key("consent-texts:generation")


def generation_new() -> str:
    """A fresh token. Random, never counted up: a Redis that lost its data must not hand out a
    token some process already holds wording for."""
    return str(secrets.randbits(62))


def generation_replace() -> None:
    try:
        redis_client().set(generation_key(), generation_new())
    except (RedisError, OSError) as exc:
        log.warning("consent_texts.generation_not_replaced", error=type(exc).__name__)


def generation_replace_after_commit(**_kwargs: Any) -> None:
    transaction.on_commit(generation_replace, robust=True)


def consent_texts_current_at(language: str, generation: bytes | None) -> dict[str, ConsentText]:
    """consent_texts_current, from this process's copy when it was read under `generation`
    (read from Redis before this call; None when Redis could not say). Callers must not change
    what they get: it is shared by the process's threads."""
    if generation is None or connection.in_atomic_block:
        return consent_texts_current(language)
    now = time.monotonic()
    copy = _copies.get(language)
    if copy is not None and copy[0] == generation and now - copy[1] < MAX_AGE_SECONDS:
        return copy[2]
    texts = consent_texts_current(language)
    _copies[language] = (generation, now, texts)
    return texts


def connect() -> None:
    for signal in (post_save, post_delete):
        signal.connect(
            generation_replace_after_commit,
            sender=ConsentText,
            dispatch_uid=f"campaign.wording.{signal is post_save}",
        )
