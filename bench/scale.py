"""Horizontal scale: the mail send and the webhook drain with 1, 2 and 4 worker processes, each
its own Celery worker (its own pool of one), against one PostgreSQL through PgBouncer in
transaction pooling (DB_POOLER=pgbouncer), as production runs them.

    .venv/bin/python bench/scale.py   (BENCH_SCALE_RECIPIENTS=6000, BENCH_SCALE_GIFTS=250)

Per configuration it prints messages/s (to postfix's smtp-sink, scheduled mailing to
completion) and events/s (Stripe events from the fake Stripe, all stored first, then applied by
the drain from the moment the workers start consuming), with the machine's load average, and
`RESULT scale ...` lines: the throughput with 2 and 4 processes as a ratio of 1 (on a 2-core
machine the curve flattens at the cores; it must not fall). It stops with an error when any
address got a message twice, a delivery is not sent once, or a gift is booked more or less than
once.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import base_env, celery_worker, leased_redis_database, scratch_database
from bench.mailing import _populate
from config.embedded import free_port, port_answers
from tests.harness.pgbouncer import PgBouncer

PROCESSES = (1, 2, 4)
RECIPIENTS = int(os.environ.get("BENCH_SCALE_RECIPIENTS", "6000"))
GIFTS = int(os.environ.get("BENCH_SCALE_GIFTS", "250"))
SECRET = "whsec_bench_" + secrets.token_hex(8)
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


class Workers:
    """`count` Celery workers on `queues`, each a process with a pool of one. With `queues`
    "idle" they start consuming nothing; `consume` then starts them all at one moment."""

    def __init__(self, env: dict[str, str], queues: str, count: int, log: Path) -> None:
        self.count = count
        self._out = log.open("ab")
        self.processes = [
            celery_worker(
                env,
                queues=queues,
                concurrency=1,
                name=f"scale{k}-{os.getpid()}@%h",
                start_new_session=True,
                stdout=self._out,
                stderr=subprocess.STDOUT,
            )
            for k in range(count)
        ]
        from worker.celery_app import app

        deadline = time.monotonic() + 180
        while len(app.control.ping(timeout=1)) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"{count} workers did not start: see {log}")
        time.sleep(1)

    def consume(self, queue: str) -> None:
        """Every worker takes `queue` (the Redis database is this bench's: all are ours)."""
        from worker.celery_app import app

        replies = app.control.add_consumer(queue, reply=True, timeout=10)
        if len(replies) < self.count:
            raise SystemExit(f"only {len(replies)} of {self.count} workers took {queue}")

    def stop(self) -> None:
        for process in self.processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._out.close()


def _sink(dump: Path) -> tuple[subprocess.Popen[bytes], int]:
    """smtp-sink that appends every envelope to `dump` (an X-Rcpt-Args line per recipient)."""
    port = free_port()
    process = subprocess.Popen(
        [SMTP_SINK, "-u", "nobody", "-D", str(dump), f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not port_answers("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise SystemExit("smtp-sink did not start (Debian package postfix)")
        time.sleep(0.1)
    return process, port


def _received(dump: Path) -> Counter[str]:
    recipients: Counter[str] = Counter()
    if dump.exists():
        with dump.open("rb") as lines:
            for line in lines:
                if line.startswith(b"X-Rcpt-Args: <"):
                    recipients[line[14:].split(b">", 1)[0].decode()] += 1
    return recipients


def _wait(done: Callable[[], bool], what: str, limit: float = 1800) -> None:
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} not done after {limit:.0f} s")
        time.sleep(0.5)


def mail_send(
    processes: int, env: dict[str, str], sink: subprocess.Popen[bytes], dump: Path, log: Path
) -> float:
    """A mailing to every supporter, sent by `processes` mail workers; messages/s from the
    moment it fell due to the last message accepted."""
    from django.db.models import Max
    from django.utils import timezone

    from mailing.models import Delivery, Mailing
    from mailing.services import mailing_schedule, mailing_tick

    story_mailing = Mailing.objects.order_by("pk").first()
    assert story_mailing is not None
    mailing = Mailing.objects.create(
        name=f"scale {processes}",
        story=story_mailing.story,
        subject_nl=story_mailing.subject_nl,
        preheader_nl=story_mailing.preheader_nl,
    )
    workers = Workers(env, "mail", processes, log)
    try:
        before = sum(_received(dump).values())
        scheduled_at = timezone.now()
        mailing_schedule(mailing_id=mailing.pk, send_at=scheduled_at)

        def finished() -> bool:
            if sink.poll() is not None:
                raise SystemExit("smtp-sink exited")
            mailing_tick()  # what beat does every MAILING_TICK_SECONDS
            mailing.refresh_from_db()
            return mailing.state == Mailing.State.FINISHED

        _wait(finished, f"mailing with {processes} processes")
    finally:
        workers.stop()
    rows = Delivery.objects.filter(message__mailing=mailing)
    sent = rows.filter(state="sent").count()
    last = rows.aggregate(last=Max("sent_at"))["last"]
    received = _received(dump)
    if sent != RECIPIENTS or sum(received.values()) - before != RECIPIENTS:
        raise SystemExit(
            f"{processes} processes: {sent} deliveries sent, "
            f"{sum(received.values()) - before} messages received, of {RECIPIENTS}"
        )
    return RECIPIENTS / (last - scheduled_at).total_seconds()


def prepare_gifts(fake: Any, count: int) -> list[bytes]:
    """`count` paid iDEAL gifts in our database and the fake; their events, not yet sent."""
    from donations import checkout
    from donations.checkout import GiftRequest
    from donations.models import Frequency, Method

    already = len(fake.events())
    for k in range(count):
        donation = checkout.donation_create(
            request=GiftRequest(
                amount=2500,
                frequency=Frequency.ONE_OFF,
                method=Method.IDEAL,
                email=f"gever-{k}-{time.monotonic_ns()}@voorbeeld.nl",
            )
        )
        checkout.checkout_start(donation=donation)
        donation.refresh_from_db()
        fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    return [fake.payload(event) for event in fake.events()[already:]]


def webhook_drain(processes: int, payloads: list[bytes], env: dict[str, str], log: Path) -> float:
    """The events stored as the webhook stores them, applied by `processes` webhook workers;
    events/s from the first stored to the last applied."""
    from django.conf import settings
    from django.db.models import Max
    from django.utils import timezone

    from donations.inbox import stripe_event_receive
    from donations.models import StripeEvent

    ids = [json.loads(payload)["id"] for payload in payloads]
    # A stored event wakes this many drain tasks (the waking process's setting): one each.
    settings.INBOX_DRAINERS = processes
    workers = Workers(env, "idle", processes, log)
    try:
        # All stored first (their wake-ups wait in the queue), then every worker starts
        # draining at one moment: the clock measures the drain, not our storing.
        for payload in payloads:
            stripe_event_receive(event=json.loads(payload), raw=payload, via="webhook")
        batch = StripeEvent.objects.filter(stripe_id__in=ids)
        started = timezone.now()
        workers.consume("webhooks")
        _wait(
            lambda: not batch.filter(processed_at__isnull=True).exclude(status="ignored").exists(),
            f"drain with {processes} processes",
        )
    finally:
        workers.stop()
    applied = batch.exclude(status="ignored")
    last = applied.aggregate(last=Max("processed_at"))["last"]
    return applied.count() / (last - started).total_seconds()


def _booked_once(gifts: int) -> None:
    """Every gift in the ledger exactly once (the constraint forbids twice; this finds none)."""
    from donations.models import Donation, DonationStatus, Transaction, TransactionKind

    paid = Donation.objects.filter(status=DonationStatus.PAID).count()
    booked = Transaction.objects.filter(kind=TransactionKind.GIFT)
    per_intent = Counter(booked.values_list("stripe_payment_intent", flat=True))
    twice = [intent for intent, n in per_intent.items() if n > 1]
    if paid != gifts or booked.count() != gifts or twice:
        raise SystemExit(f"{gifts} gifts: {paid} paid, {booked.count()} booked, twice: {twice}")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f})"


def main() -> None:
    env = {**base_env(), "DJANGO_SETTINGS_MODULE": "config.settings"}
    with (
        leased_redis_database(env) as redis_url,
        scratch_database("bench_scale", env) as direct_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        folder = Path(tmp)
        # smtp-sink runs as nobody and creates its dump itself (it refuses one made for it).
        folder.chmod(0o777)
        dump = folder / "sink.dump"
        bouncer = PgBouncer(port=free_port()).start()
        sink, port = _sink(dump)
        try:
            database = direct_url.rsplit("/", 1)[1]
            env.update(
                DATABASE_URL=bouncer.url(database),
                DB_POOLER="pgbouncer",
                REDIS_URL=redis_url,
                EMAIL_URL=f"smtp://127.0.0.1:{port}",
                SITE_URL="https://www.savethechildren.example",
                STRIPE_WEBHOOK_SECRET=SECRET,
                STRIPE_SECRET_KEY="sk_test_bench",  # noqa: S106 - the fake accepts any key
            )
            os.environ.update(env)
            _run(env, sink, dump, folder / "workers.log")
        finally:
            sink.kill()
            bouncer.stop()


def _run(env: dict[str, str], sink: subprocess.Popen[bytes], dump: Path, log: Path) -> None:
    import django

    django.setup()
    import logging

    from django.conf import settings
    from django.db import connection

    from campaign.models import Campaign, Story
    from devstripe.server import FakeStripe
    from mailing.models import Mailing

    logging.getLogger("stripe").setLevel(logging.WARNING)
    with connection.cursor() as cursor:
        _populate(cursor, RECIPIENTS)
    campaign = Campaign.objects.create(
        slug="scale", name_nl="Save the Survivors", tagline_nl="-", intro_nl="-"
    )
    story = Story.objects.create(
        campaign=campaign,
        slug="scale-verhaal",
        child_pseudonym="Samir",
        route_nl="Libië",
        title_nl="Samir vond een veilige plek",
        summary_nl="Een verhaal.",
        body_nl="Op de Centrale Mediterrane Route reist een kind vaak maanden alleen.\n\n" * 6,
        is_published=True,
    )
    Mailing.objects.create(name="template", story=story, subject_nl="Samir", preheader_nl="-")

    print(f"mail send: {RECIPIENTS} recipients per run, through PgBouncer", flush=True)
    mail: dict[int, float] = {}
    for processes in PROCESSES:
        mail[processes] = mail_send(processes, env, sink, dump, log)
        print(f"  {processes} process(es): {mail[processes]:7.0f} messages/s  {load()}", flush=True)
    # Each address is in every mailing once: as many messages as runs, no more, no fewer.
    wrong = [address for address, n in _received(dump).items() if n != len(PROCESSES)]
    if wrong:
        raise SystemExit(f"not exactly one message per mailing: {wrong[:5]}")

    fake = FakeStripe(webhook_secret=SECRET).start()
    try:
        fake.auto_deliver = False
        settings.STRIPE_API_BASE = fake.api_base
        env["STRIPE_API_BASE"] = fake.api_base
        started = time.monotonic()
        batches = {processes: prepare_gifts(fake, GIFTS) for processes in PROCESSES}
        print(
            f"webhook drain: {GIFTS} gifts ({len(batches[1])} events) per run, "
            f"prepared in {time.monotonic() - started:.0f} s",
            flush=True,
        )
        drain: dict[int, float] = {}
        for processes in PROCESSES:
            drain[processes] = webhook_drain(processes, batches[processes], env, log)
            print(f"  {processes} process(es): {drain[processes]:7.0f} events/s  {load()}")
    finally:
        fake.stop()
    _booked_once(GIFTS * len(PROCESSES))
    print("nothing sent twice, every gift booked once")
    for name, rates, unit in (("mail", mail, "messages_per_s"), ("drain", drain, "events_per_s")):
        print(
            f"RESULT scale {name} {unit}="
            + "/".join(f"{rates[p]:.0f}" for p in PROCESSES)
            + f" ratio_2={rates[2] / rates[1]:.2f} ratio_4={rates[4] / rates[1]:.2f}"
            + f" target>=1.0 cpus={os.cpu_count()}"
        )


if __name__ == "__main__":
    main()
