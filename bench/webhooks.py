"""Webhook ingest: our POST /stripe/webhook/ against a bare INSERT view on the same server.

Prints RESULT webhook_ingest ratio=<ours/reference> target=0.80 and the p99 latency.
Run: make bench (or .venv/bin/python bench/webhooks.py). Needs PostgreSQL, Redis and wrk.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import stripe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    all_arrived,
    base_env,
    celery_worker,
    cpu_by_part,
    cpu_report,
    gunicorn,
    leased_redis_database,
    scratch_database,
    wrk,
)

SECRET = "whsec_bench_" + secrets.token_hex(8)
EVENTS = 12_000  # per run: more than wrk sends in one run here


def _event() -> str:
    """A ~2 KB event of a type we store and ignore (no Stripe re-read in this benchmark)."""
    body = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "bench.ingest",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": {"id": f"obj_{uuid.uuid4().hex}", "padding": "x" * 1800}},
    }
    return json.dumps(body)


def _signed_lines(payloads: list[str]) -> list[str]:
    lines = []
    for payload in payloads:
        ts = int(time.time())
        sig = stripe.WebhookSignature._compute_signature(f"{ts}.{payload}", SECRET)
        lines += [f"t={ts},v1={sig}", payload]
    return lines


def _wrk_script(directory: Path, name: str, payloads: list[str], *, once: bool = False) -> Path:
    """Pre-signed requests; wrk's two threads take alternate ones. With `once`, each request
    is sent exactly once and the threads stop when they run out."""
    data = directory / f"{name}.txt"
    data.write_text("\n".join(_signed_lines(payloads)) + "\n")
    script = directory / f"{name}.lua"
    stop = "if i > n then wrk.thread:stop() end" if once else ""
    script.write_text(
        f"""
local threads = 0
function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end
function init(args)
  sigs, bodies, n = {{}}, {{}}, 0
  local lines = io.lines("{data}")
  for sig in lines do
    n = n + 1
    sigs[n] = sig
    bodies[n] = lines()
  end
  i = first + 1
end
function request()
  local k = (i - 1) % n + 1
  i = i + 2  -- two threads: one takes odd, the other even requests
  local headers = {{["Content-Type"] = "application/json", ["Stripe-Signature"] = sigs[k]}}
  return wrk.format("POST", nil, headers, bodies[k])
end
function response(status, headers, body)
  {stop}
end
"""
    )
    return script


def main() -> None:
    env = base_env()
    env.update(STRIPE_WEBHOOK_SECRET=SECRET, DJANGO_SETTINGS_MODULE="bench.settings")
    with (
        scratch_database(f"bench_webhooks_{os.getpid()}", env) as db_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_reference (id bigserial PRIMARY KEY, body text)")
        scripts = [
            _wrk_script(Path(tmp), f"run{k}", [_event() for _ in range(EVENTS)]) for k in range(2)
        ]
        env["DATABASE_URL"] = db_url
        results: dict[str, list[dict[str, float]]] = {"reference": [], "ours": []}
        with gunicorn(env) as base:
            # Alternate the two, twice, so drift on a shared machine hits both alike.
            for script in scripts:
                results["reference"].append(wrk(f"{base}/bench/reference/", script=script))
                results["ours"].append(wrk(f"{base}/stripe/webhook/", script=script))
        with psycopg.connect(db_url) as conn:
            stored = conn.execute("SELECT count(*) FROM donations_stripeevent").fetchone()
    best = {name: max(runs, key=lambda r: r["rate"]) for name, runs in results.items()}
    for name, run in best.items():
        print(
            f"{name:9s} {run['rate']:8.0f} req/s  p99 {run['p99_ms']:.1f} ms  "
            f"non-2xx {run['errors']:.0f}"
        )
    print(f"stored events: {stored[0] if stored else 0}")
    ratio = best["ours"]["rate"] / best["reference"]["rate"]
    print(
        f"RESULT webhook_ingest ratio={ratio:.2f} target=0.80 p99_ms={best['ours']['p99_ms']:.1f}"
    )


def lag_main(count: int = 10_000) -> None:
    """A burst of `count` real events through the webhook and two Celery workers (as many
    processes each as the run command starts, or BENCH_CONCURRENCY): the lag from receipt to
    ledger (target p99 < 5 s)."""
    env = base_env()
    with (
        scratch_database(f"bench_webhook_lag_{os.getpid()}", env) as db_url,
        leased_redis_database(env) as redis_url,
    ):
        env.update(
            DATABASE_URL=db_url, REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="config.settings"
        )
        os.environ.update(
            DATABASE_URL=db_url,
            REDIS_URL=env["REDIS_URL"],
            DJANGO_SETTINGS_MODULE="config.settings",
        )
        import django

        django.setup()
        import logging

        from django.conf import settings
        from django.db.models import Max, Min

        from devstripe.server import FakeStripe
        from donations import checkout
        from donations.checkout import GiftRequest
        from donations.models import Frequency, Method, StripeEvent
        from tests.harness.smtp import SmtpServer

        logging.getLogger("mail.log").setLevel(logging.WARNING)
        logging.getLogger("stripe").setLevel(logging.WARNING)  # a line per preparing request
        fake = FakeStripe(webhook_secret=SECRET).start()
        smtp = SmtpServer().start()
        settings.STRIPE_API_BASE = fake.api_base
        fake.auto_deliver = False
        started = time.monotonic()
        while len(fake.events()) < count:
            donation = checkout.donation_create(
                request=GiftRequest(
                    amount=2500,
                    frequency=Frequency.ONE_OFF,
                    method=Method.IDEAL,
                    email=f"gever-{uuid.uuid4().hex[:8]}@voorbeeld.nl",
                )
            )
            checkout.checkout_start(donation=donation)
            donation.refresh_from_db()
            fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
        events = fake.events()[:count]
        print(f"prepared {len(events)} events in {time.monotonic() - started:.0f} s")
        env.update(
            STRIPE_API_BASE=fake.api_base,
            STRIPE_SECRET_KEY="sk_test_bench",  # noqa: S106 - the fake accepts any key
            STRIPE_WEBHOOK_SECRET=SECRET,
            EMAIL_URL=smtp.url,
        )
        # Processes per worker: the run command's (config/runall.py) unless BENCH_CONCURRENCY.
        concurrency = os.environ.get("BENCH_CONCURRENCY", "2")
        workers = [
            celery_worker(
                env, queues="webhooks,default", concurrency=concurrency, name=f"lag{k}@%h"
            )
            for k in range(2)
        ]
        print(f"workers: 2, concurrency {concurrency} each")
        try:
            time.sleep(6)  # both workers connected
            # One line each for the Lua reader; we sign these exact bytes ourselves.
            payloads = [json.dumps(json.loads(fake.payload(event))) for event in events]
            with gunicorn(env, workers=2) as base, tempfile.TemporaryDirectory() as tmp:
                script = _wrk_script(Path(tmp), "burst", payloads, once=True)
                cpu_before = cpu_by_part()
                burst = wrk(
                    f"{base}/stripe/webhook/", script=script, seconds=120,
                    finished=all_arrived(StripeEvent.objects.count, len(payloads), slack=16),
                )  # fmt: skip
                spread = StripeEvent.objects.aggregate(
                    first=Min("received_at"), last=Max("received_at")
                )
                took = (spread["last"] - spread["first"]).total_seconds()
                print(
                    f"received {len(payloads)} events over {took:.1f} s "
                    f"({len(payloads) / max(took, 0.001):.0f}/s), non-2xx: {burst['errors']:.0f}"
                )
                deadline = time.monotonic() + 600
                while (
                    StripeEvent.objects.filter(processed_at__isnull=True)
                    .exclude(status="ignored")
                    .exists()
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.5)
                cpu_report(cpu_before, cpu_by_part(), per=len(payloads), unit="event received")
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(60)
            fake.stop()
            smtp.stop()
        # Lag of the events that do work; ignored types are applied at receipt (lag 0) and
        # would flatter the figure.
        handled = list(
            StripeEvent.objects.exclude(processed_at__isnull=True).exclude(status="ignored")
        )
        lags = sorted((e.processed_at - e.received_at).total_seconds() for e in handled)
        first = min(e.received_at for e in handled)
        last = max(e.processed_at for e in handled)
        print(
            f"handled {len(handled)} events at "
            f"{len(handled) / (last - first).total_seconds():.0f}/s"
        )
        slow = Counter(
            (e.type, e.attempts)
            for e in StripeEvent.objects.exclude(processed_at__isnull=True)
            if (e.processed_at - e.received_at).total_seconds() > 5
        )
        print(f"applied later than 5 s, by (type, attempts): {dict(slow)}")
        _print_timeline(handled, first)
        from django.db import connections

        connections.close_all()
    p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99) - 1]
    print(f"applied {len(lags)} events; lag p50 {p50:.2f} s")
    print(f"RESULT webhook_lag p99_s={p99:.2f} target<5.0 workers=2x{concurrency}")


def _print_timeline(handled: list[Any], first: datetime) -> None:
    """Per 10 s of the run: events received, applied, and the longest lag among those applied,
    to tell a drain that falls behind during the burst from one that starts late."""
    received: Counter[int] = Counter()
    applied: Counter[int] = Counter()
    longest: dict[int, float] = {}
    for event in handled:
        received[int((event.received_at - first).total_seconds() // 10)] += 1
        slot = int((event.processed_at - first).total_seconds() // 10)
        applied[slot] += 1
        lag = (event.processed_at - event.received_at).total_seconds()
        longest[slot] = max(longest.get(slot, 0.0), lag)
    for slot in range(max(applied) + 1):
        print(
            f"  {slot * 10:4d}-{slot * 10 + 10:<4d}s received {received[slot]:5d}  "
            f"applied {applied[slot]:5d}  longest lag {longest.get(slot, 0.0):5.1f} s"
        )


if __name__ == "__main__":
    if "--lag-only" not in sys.argv:
        main()
    lag_main()
