"""Point this test process's Celery app at another broker (a private Redis a test can stop)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kombu import pools

from worker.celery_app import app


def _reset_pools() -> None:
    # Celery and kombu cache connection and producer pools (kombu's keyed by connection);
    # drop them all so the next publish connects to the broker now configured.
    app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


@contextmanager
def use_broker(url: str) -> Iterator[None]:
    previous = app.conf.broker_url
    app.conf.broker_url = url
    _reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url = previous
        _reset_pools()
