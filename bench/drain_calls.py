"""What the webhook drain asks Stripe per payment, and its time per payment, for three kinds:
a one-off iDEAL gift, a monthly gift's first payment, a SEPA renewal (processing, then settled).

Each kind's events are stored as the webhook stores them, then one drain applies them in this
process against the local Stripe-speaking server; its request log counts the calls. The times
are this machine's at this moment (say how busy it was); the call counts do not depend on it.
Run: .venv/bin/python bench/drain_calls.py (needs PostgreSQL).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import base_env, scratch_database


def main(count: int = 20) -> None:
    env = base_env()
    with scratch_database(f"bench_drain_calls_{os.getpid()}", env) as db_url:
        os.environ.update(DATABASE_URL=db_url, DJANGO_SETTINGS_MODULE="config.settings")
        import django

        django.setup()
        logging.getLogger("stripe").setLevel(logging.WARNING)
        from django.conf import settings
        from django.db import connections

        from devstripe.server import FakeStripe
        from donations import checkout
        from donations.checkout import GiftRequest
        from donations.inbox import inbox_drain, stripe_event_receive
        from donations.models import Frequency, Method

        fake = FakeStripe().start()
        settings.STRIPE_API_BASE = fake.api_base
        settings.STRIPE_SECRET_KEY = "sk_test_bench"  # noqa: S105 - the fake accepts any key
        fake.auto_deliver = False

        def gift(frequency: Frequency) -> Any:
            donation = checkout.donation_create(
                request=GiftRequest(
                    amount=2500, frequency=frequency, method=Method.IDEAL, email="a@voorbeeld.nl"
                )
            )
            checkout.checkout_start(donation=donation)
            donation.refresh_from_db()
            return fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")

        def measure(label: str, make: Callable[[], Any]) -> list[Any]:
            before = len(fake.events())
            made = [make() for _ in range(count)]
            for event in fake.events()[before:]:
                stripe_event_receive(event=json.loads(fake.payload(event)), via="webhook")
            fake.clear_requests()
            started = time.perf_counter()
            while inbox_drain():
                pass
            took = (time.perf_counter() - started) / count
            calls = Counter(r.path.split("/")[2] for r in fake.requests)
            per = {name: round(n / count, 1) for name, n in sorted(calls.items())}
            print(
                f"{label:40s} {sum(calls.values()) / count:4.1f} calls {took * 1000:6.0f} ms {per}"
            )
            return made

        measure("one-off iDEAL gift", lambda: gift(Frequency.ONE_OFF))
        sessions = measure("monthly gift, first payment (iDEAL)", lambda: gift(Frequency.MONTHLY))
        subscriptions = [session["subscription"] for session in sessions]
        measure("monthly gift, SEPA renewal", lambda: fake.renew(subscriptions.pop()))
        fake.stop()
        connections.close_all()
    print(f"RESULT drain_calls load_average={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
