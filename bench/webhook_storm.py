"""A webhook storm: 50,000 signed Stripe events (25,000 iDEAL gifts, each a
checkout.session.completed and a payment_intent.succeeded, what an endpoint subscribed to the
types we handle receives) posted as fast as the web server takes them, drained into the ledger
by the run command's processes (config/runall.py: gunicorn 2 workers x 4 threads, one Celery
worker on every queue with 2 processes, beat).

Prints RESULT webhook_storm p99_s=<receipt-to-ledger lag> target<10, and RESULT
webhook_storm_ingest ratio=<x> target>=0.80: the webhook's ingest rate during the storm
against a bare INSERT view (bench/reference.py) on the same server, taking the same bodies,
measured in the same run; "throughout": the lowest 10 s window of the storm counts, not the
mean. The reference runs without the drain beside it, so ours pays for its own drain.
Then checks the books: every gift paid once, one ledger row each, every event applied once.

    .venv/bin/python bench/webhook_storm.py      (BENCH_STORM_GIFTS=2000 for a quick run)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
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
from bench.machine import load_line
from bench.mailing import _sink
from bench.webhooks import SECRET, _wrk_script

GIFTS = int(os.environ.get("BENCH_STORM_GIFTS", "25000"))
# What a Stripe endpoint subscribed to the types we act on gets for a paid one-off gift.
DELIVERED = ("checkout.session.completed", "payment_intent.succeeded")
LAG_TARGET_S = 10.0
INGEST_TARGET = 0.80
WINDOW_S = 10
CONNECTIONS = 16


def main() -> None:
    print(load_line("before"), flush=True)
    began = time.perf_counter()
    env = base_env()
    sink, port = _sink()
    try:
        with (
            scratch_database("bench_webhook_storm", env) as db_url,
            leased_redis_database(env) as redis_url,
        ):
            env.update(
                DATABASE_URL=db_url,
                REDIS_URL=redis_url,
                EMAIL_URL=f"smtp://127.0.0.1:{port}",
                DJANGO_SETTINGS_MODULE="bench.settings",
            )
            os.environ.update(env)
            _run(env)
    finally:
        sink.kill()
    print(load_line("after"))
    print(f"bench/webhook_storm.py took {time.perf_counter() - began:.0f} s")


def _prepare(fake: Any) -> list[bytes]:
    """GIFTS gifts as donors make them: our donate flow builds each gift and its Checkout
    Session's parameters, the local Stripe creates the session (its API handler called in this
    process with the form body stripe-python would send: the HTTP round trip would make this
    preparation take longer than the storm), the donor pays it there. Returns the events
    Stripe would deliver."""
    from urllib.parse import urlencode

    from django.db import connection
    from stripe._encode import _api_encode

    from donations import checkout
    from donations.checkout import GiftRequest
    from donations.models import Donation, Frequency, Method

    started = time.monotonic()
    headers = {"authorization": "Bearer sk_test_bench"}
    with connection.cursor() as cursor:
        # Preparation only, not measured: no disk flush per gift.
        cursor.execute("SET synchronous_commit TO off")
    for i in range(GIFTS):
        donation = checkout.donation_create(
            request=GiftRequest(
                amount=1000 + i % 9000,
                frequency=Frequency.ONE_OFF,
                method=Method.IDEAL,
                email=f"gever-{uuid.uuid4().hex[:10]}@voorbeeld.nl",
            )
        )
        body = urlencode(list(_api_encode(checkout.checkout_params(donation)))).encode()
        response = fake.api.handle("POST", "/v1/checkout/sessions", "", body, headers)
        if response.status != 200:
            raise SystemExit(f"the local Stripe refused the session: {response.body[:300]!r}")
        session = json.loads(response.body)["id"]
        Donation.objects.filter(pk=donation.pk).update(stripe_checkout_session=session)
        fake.complete_checkout(session, "paid", "ideal")
        if (i + 1) % 5000 == 0:
            print(f"  prepared {i + 1:,} gifts ({time.monotonic() - started:.0f} s)", flush=True)
    events = [e for e in fake.events() if e["type"] in DELIVERED]
    print(f"prepared {GIFTS:,} gifts, {len(events):,} events in {time.monotonic() - started:.0f} s")
    return [json.dumps(json.loads(fake.payload(event))).encode() for event in events]


def _run(env: dict[str, str]) -> None:
    import django

    django.setup()
    import logging

    from django.conf import settings
    from django.db import connection

    from devstripe.server import FakeStripe

    logging.getLogger("stripe").setLevel(logging.WARNING)
    fake = FakeStripe(webhook_secret=SECRET).start()
    settings.STRIPE_API_BASE = fake.api_base
    fake.auto_deliver = False
    try:
        payloads = _prepare(fake)
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE bench_reference (id bigserial PRIMARY KEY, body text, "
                "at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
        env.update(
            STRIPE_API_BASE=fake.api_base,
            STRIPE_SECRET_KEY="sk_test_bench",  # noqa: S106 - the local Stripe takes any key
            STRIPE_WEBHOOK_SECRET=SECRET,
        )
        fake.clear_requests()
        _storm(env, [p.decode() for p in payloads])
        _stripe_calls(fake)
    finally:
        fake.stop()
    _report(len(payloads))


def _stripe_calls(fake: Any) -> None:
    """What the drain asked Stripe, and how long real Stripe would take to answer it at its
    documented limits (live mode: 100 reads a second in all, 25 a second per endpoint)."""
    calls = Counter(f"{r.method} {r.path.split('/')[2]}" for r in fake.requests)
    total = sum(calls.values())
    floor = max([total / 100, *(n / 25 for n in calls.values())], default=0.0)
    print(
        f"Stripe calls during the storm: {total:,} ({total / GIFTS:.3f} a gift) {dict(calls)}; "
        f"at Stripe's rate limits they take at least {floor:.0f} s",
        flush=True,
    )


def _storm(env: dict[str, str], payloads: list[str]) -> None:
    from donations.models import StripeEvent

    with tempfile.TemporaryDirectory() as tmp:
        script = _wrk_script(Path(tmp), "storm", payloads, once=True)
        with gunicorn(env, workers=2, threads=4) as base:
            seconds = max(60, len(payloads) // 100)
            wrk(
                f"{base}/bench/reference/", script=script, seconds=seconds,
                connections=CONNECTIONS, finished=all_arrived(
                    lambda: _count("SELECT count(*) FROM bench_reference"), len(payloads),
                    slack=CONNECTIONS,
                ),
            )  # fmt: skip
            reference = _rates("SELECT at FROM bench_reference")
            print(f"reference (bare INSERT view): {reference.mean:.0f} req/s", flush=True)
            worker = celery_worker(
                env, queues="webhooks,mail,exports,default", concurrency=2, name="storm@%h"
            )
            beat = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "WARNING",
                 "--schedule", f"{tmp}/beat-schedule"],
                cwd=ROOT, env=env,
            )  # fmt: skip
            try:
                _wait_for_worker()
                cpu_before = cpu_by_part()
                # Signed afresh: Stripe's signatures are good for five minutes.
                script = _wrk_script(Path(tmp), "storm-ours", payloads, once=True)
                ours = wrk(
                    f"{base}/stripe/webhook/", script=script, seconds=seconds,
                    connections=CONNECTIONS, finished=all_arrived(
                        StripeEvent.objects.count, len(payloads), slack=CONNECTIONS
                    ),
                )  # fmt: skip
                print(f"ours: non-2xx {ours['errors']:.0f}", flush=True)
                burst_end = _database_now()
                _redeliver(base, payloads)
                deadline = time.monotonic() + 1800
                waiting = StripeEvent.objects.filter(processed_at__isnull=True)
                while waiting.exists() and time.monotonic() < deadline:
                    time.sleep(1)
                # Where the machine's CPU went, storm and drain together, per event.
                cpu_report(cpu_before, cpu_by_part(), per=len(payloads), unit="event")
            finally:
                beat.terminate()
                worker.terminate()
                beat.wait(60)
                worker.wait(120)
        _ingest(reference, burst_end)


def _wait_for_worker() -> None:
    from worker.celery_app import app

    deadline = time.monotonic() + 600  # a busy machine starts a worker slowly
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not start within ten minutes")
    time.sleep(1)


@dataclass(frozen=True)
class Rates:
    mean: float  # requests/s from the first to the last
    windows: list[float]  # requests/s in each complete WINDOW_S window
    count: int
    span: float


def _rates(sql: str, params: list[Any] | None = None) -> Rates:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        stamps = sorted(at for (at,) in cursor.fetchall())
    first, last = stamps[0], stamps[-1]
    span = max((last - first).total_seconds(), 0.001)
    slots: Counter[int] = Counter(int((at - first).total_seconds() // WINDOW_S) for at in stamps)
    windows = [slots[w] / WINDOW_S for w in range(int(span // WINDOW_S))]
    return Rates(mean=len(stamps) / span, windows=windows, count=len(stamps), span=span)


def _redeliver(base: str, payloads: list[str]) -> None:
    """wrk drops the requests in flight when its threads stop at the end of the list: post
    the few it dropped, as Stripe's retry would, so every event is in the books."""
    import urllib.request

    import stripe

    from donations.models import StripeEvent

    stored = set(StripeEvent.objects.values_list("stripe_id", flat=True))
    missing = [p for p in payloads if json.loads(p)["id"] not in stored]
    for payload in missing:
        stamp = int(time.time())
        signature = stripe.WebhookSignature._compute_signature(f"{stamp}.{payload}", SECRET)
        request = urllib.request.Request(
            f"{base}/stripe/webhook/",
            data=payload.encode(),
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": f"t={stamp},v1={signature}",
            },
        )
        urllib.request.urlopen(request, timeout=30).read()
    print(f"redelivered {len(missing)} events wrk dropped at its end")


def _count(sql: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return int(cursor.fetchone()[0])


def _database_now() -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def _ingest(reference: Rates, burst_end: Any) -> None:
    """Events received per window of the burst (the few redelivered after it left out)
    against the reference's rate."""
    ours = _rates(
        "SELECT received_at FROM donations_stripeevent WHERE received_at <= %s", [burst_end]
    )
    lowest = min(ours.windows) if ours.windows else ours.mean
    print(f"received {ours.count:,} events over {ours.span:.1f} s ({ours.mean:.0f}/s)")
    print("reference per window (req/s): " + ", ".join(f"{r:.0f}" for r in reference.windows))
    print("ours per window (events/s): " + ", ".join(f"{r:.0f}" for r in ours.windows))
    print(
        f"RESULT webhook_storm_ingest ratio={lowest / reference.mean:.2f} "
        f"target>={INGEST_TARGET} mean_ratio={ours.mean / reference.mean:.2f} "
        "(lowest 10 s window of ours / reference mean)"
    )


def _report(events: int) -> None:
    from donations.models import Donation, DonationStatus, EventStatus, StripeEvent, Transaction

    rows = list(StripeEvent.objects.values_list("received_at", "processed_at", "status"))
    done = [(r, p) for r, p, status in rows if status == EventStatus.PROCESSED and p]
    lags = sorted((p - r).total_seconds() for r, p in done)
    if len(rows) != events or len(lags) != events:
        raise SystemExit(f"{len(rows)} of {events} events stored, {len(lags)} applied")
    first = min(r for r, _ in done)
    last = max(p for _, p in done)
    print(f"applied {len(lags):,} events in {(last - first).total_seconds():.0f} s from the first")
    _timeline(done, first)
    paid = Donation.objects.filter(status=DonationStatus.PAID).count()
    gifts = Transaction.objects.filter(kind="gift").count()
    print(f"books: {paid:,} gifts paid, {gifts:,} gift rows in the ledger (expected {GIFTS:,})")
    if paid != GIFTS or gifts != GIFTS:
        raise SystemExit("the ledger does not hold every gift exactly once")
    p50, p99 = lags[len(lags) // 2], lags[max(int(len(lags) * 0.99) - 1, 0)]
    print(f"lag p50 {p50:.2f} s, max {lags[-1]:.2f} s")
    print(f"RESULT webhook_storm p99_s={p99:.2f} target<{LAG_TARGET_S:.0f} events={events}")


def _timeline(done: list[tuple[Any, Any]], first: Any) -> None:
    received: Counter[int] = Counter()
    applied: Counter[int] = Counter()
    longest: dict[int, float] = {}
    for r, p in done:
        received[int((r - first).total_seconds() // WINDOW_S)] += 1
        slot = int((p - first).total_seconds() // WINDOW_S)
        applied[slot] += 1
        longest[slot] = max(longest.get(slot, 0.0), (p - r).total_seconds())
    for slot in range(max(applied) + 1):
        print(
            f"  {slot * WINDOW_S:4d}-{slot * WINDOW_S + WINDOW_S:<4d}s received "
            f"{received[slot]:6d}  applied {applied[slot]:6d}  longest lag "
            f"{longest.get(slot, 0.0):5.1f} s"
        )


if __name__ == "__main__":
    main()
