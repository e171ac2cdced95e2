"""The shared send rate: a token bucket in real Redis, halved when the server pushes back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mailing.ratelimit import SendRateLimiter


@pytest.fixture
def limiter(redis_client: Any) -> SendRateLimiter:
    return SendRateLimiter(f"test-{uuid.uuid4().hex[:8]}", rate=10, burst=5)


def test_a_burst_is_free_then_tokens_come_at_the_rate(limiter: SendRateLimiter) -> None:
    waits = [limiter.take() for _ in range(5)]
    sixth = limiter.take()

    assert waits == [0.0] * 5
    # The bucket is empty: the next token is due in about 1/10 s (less, as time has passed).
    assert 0.0 < sixth <= 0.1


def test_two_processes_share_one_bucket(limiter: SendRateLimiter) -> None:
    other_worker = SendRateLimiter(limiter.bucket.removeprefix("mailing:rate:"), rate=10, burst=5)

    granted = [bucket.take() == 0.0 for bucket in (limiter, other_worker) * 4]

    assert granted.count(True) == 5


def test_push_back_halves_the_rate(limiter: SendRateLimiter) -> None:
    for _ in range(5):
        limiter.take()
    before = limiter.take()

    limiter.push_back()
    after = limiter.take()

    # Each waiting take books a token ahead; at half the rate the next one is twice as far.
    assert after > before
    assert after > 0.1


def test_no_rate_means_no_limit() -> None:
    unlimited = SendRateLimiter("test-off", rate=0, burst=1)

    assert [unlimited.take() for _ in range(100)] == [0.0] * 100


def test_an_unreachable_redis_does_not_stop_sending(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    limiter = SendRateLimiter("test-down", rate=1, burst=1)

    assert [limiter.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    limiter.push_back()  # logs, does not raise
