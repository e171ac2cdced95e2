"""pytest fixtures for the fake Stripe server (registered from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstripe.server import FakeStripe

TEST_SECRET_KEY = "sk_test_fake"
TEST_WEBHOOK_SECRET = "whsec_fakestripe_test_secret"


@pytest.fixture
def fake_stripe(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    """A fresh fake Stripe for this test; our settings (and the environment that worker
    subprocesses started during the test inherit) point at it."""
    fake = FakeStripe(webhook_secret=TEST_WEBHOOK_SECRET).start()
    settings.STRIPE_API_BASE = fake.api_base
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
    monkeypatch.setenv("STRIPE_API_BASE", fake.api_base)
    monkeypatch.setenv("STRIPE_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", fake.webhook_secret)
    yield fake
    fake.stop()


@pytest.fixture
def webhook_target(fake_stripe: FakeStripe) -> Callable[[str | None], None]:
    """`webhook_target(url)`: the fake posts every new event there, signed with our secret."""

    def set_target(url: str | None) -> None:
        fake_stripe.set_webhook(url, secret=fake_stripe.webhook_secret)

    return set_target
