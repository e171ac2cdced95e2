"""devstripe: a local Stripe-speaking HTTP server for development and tests, never production.

It answers the Stripe API calls this project makes (API version 2026-10-28.endive), hosts a
checkout page that can pay, fail or be left, and posts signed webhooks, so the demo
(`make run` without STRIPE_SECRET_KEY, `python -m devstripe`) and the test suite (the
`fake_stripe` fixture) take gifts without reaching Stripe. It keeps everything in memory, takes
any `sk_test_` key and signs with a secret it is given: pointing a production site at it would
book gifts nobody paid. APP_ENV=production refuses STRIPE_API_BASE (config/settings/stripe.py)
and `python -m devstripe` refuses to start under APP_ENV=production. See README.md.
"""

from devstripe.server import DEFAULT_WEBHOOK_SECRET, FakeStripe

__all__ = ["DEFAULT_WEBHOOK_SECRET", "FakeStripe"]
