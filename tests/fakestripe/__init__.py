"""A local Stripe-speaking HTTP server for tests (API version 2026-10-28.endive). See README.md."""

from tests.fakestripe.server import DEFAULT_WEBHOOK_SECRET, FakeStripe

__all__ = ["DEFAULT_WEBHOOK_SECRET", "FakeStripe"]
