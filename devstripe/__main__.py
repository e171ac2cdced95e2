"""The demo's local Stripe: `python -m devstripe --port P --webhook URL --secret S`.

The run command starts it when no STRIPE_SECRET_KEY is set, so the demo's donate button leads to
a hosted checkout page (Pay / Fail) whose payments reach the app as signed webhooks, exactly as
Stripe's would. A development and test tool: never for production (it refuses to start under
APP_ENV=production, and APP_ENV=production refuses STRIPE_API_BASE and test keys).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from devstripe.server import FakeStripe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook", required=True, help="the app's POST /stripe/webhook/ URL")
    parser.add_argument("--secret", required=True, help="the webhook signing secret (whsec_...)")
    parser.add_argument(
        "--settle-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a SEPA debit paid (or failed) on the checkout page settles by itself this long "
        "after, as Stripe's test IBANs do (default: only when told to, POST /_test/settle)",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="keep the account in PATH (JSON, rewritten after every change) and start from it "
        "when it exists, so a stopped or killed devstripe carries on (default: memory only)",
    )
    args = parser.parse_args()
    if os.environ.get("APP_ENV") == "production":
        sys.exit(
            "devstripe is a development and test tool: refusing to start with APP_ENV=production"
        )
    if args.settle_after is not None and not 0 <= args.settle_after <= 86_400:
        parser.error("--settle-after takes 0 to 86400 seconds")
    fake = FakeStripe(
        webhook_secret=args.secret, settle_after=args.settle_after, state_file=args.state_file
    )
    fake.set_webhook(args.webhook, secret=args.secret)
    # Queued before the server takes requests, so a new event is never queued twice.
    pending = fake.deliver_pending()
    fake.start(port=args.port)
    print(f"[stripe] local Stripe at {fake.api_base}, webhooks to {args.webhook}", flush=True)
    if args.state_file is not None:
        print(f"[stripe] account in {args.state_file}, {pending} events to deliver", flush=True)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
