"""Worker pools' heartbeats: beat sends a tiny task to every queue; the worker that runs it
stamps the time in Redis. The metrics endpoint reports each queue's age, so a stopped pool
shows within a minute even while its queue is empty (a queue length alone would not)."""

from __future__ import annotations

import time

import redis
from django.conf import settings

HEARTBEAT_KEY = "sts:heartbeat:{queue}"
# Beat sends one every HEARTBEAT_SECONDS; the key outlives a few missed beats, then goes.
HEARTBEAT_SECONDS = 15.0


def heartbeat_record(*, queue: str) -> None:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        client.set(HEARTBEAT_KEY.format(queue=queue), f"{time.time():.3f}", ex=3600)
    finally:
        client.close()
