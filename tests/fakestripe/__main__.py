"""The demo's local Stripe: `python -m tests.fakestripe --port P --webhook URL --secret S`.

The run command starts it when no STRIPE_SECRET_KEY is set, so the demo's donate button leads to
a hosted checkout page (Pay / Fail) whose payments reach the app as signed webhooks, exactly as
Stripe's would. A development and test tool: never for production (APP_ENV=production refuses
STRIPE_API_BASE and test keys).
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from tests.fakestripe.server import FakeStripe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook", required=True, help="the app's POST /stripe/webhook/ URL")
    parser.add_argument("--secret", required=True, help="the webhook signing secret (whsec_...)")
    args = parser.parse_args()
    fake = FakeStripe(webhook_secret=args.secret).start(port=args.port)
    fake.set_webhook(args.webhook, secret=args.secret)
    print(f"[stripe] local Stripe at {fake.api_base}, webhooks to {args.webhook}", flush=True)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
