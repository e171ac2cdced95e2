"""A scheduled mailing of 100,000 supporters through Celery workers to postfix's smtp-sink,
against (a) smtplib sending pre-built messages over 4 persistent connections and (b)
django-post-office sending the same messages through its queue, all in the same run.

    .venv/bin/python bench/mailing.py        (BENCH_MAIL_RECIPIENTS=20000 for a quick run)

Prints RESULT mail_throughput ratio_vs_raw=<x> target=0.40, RESULT mail_vs_post_office
ratio=<y> target=5.0, and the worker's peak memory at 10,000 and at all recipients (target:
flat, under 250 MB). The raw reference runs before and after ours (the machine is shared, so its
speed drifts) and the ratio uses their mean. post_office sends BENCH_POST_OFFICE_MESSAGES
(default 10,000) messages: its rate is steady and 100,000 would take many minutes.
"""

from __future__ import annotations

import html as html_lib
import logging
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import base_env, celery_worker, leased_redis_database, scratch_database
from bench.machine import load_line
from config.embedded import free_port

RECIPIENTS = int(os.environ.get("BENCH_MAIL_RECIPIENTS", "100000"))
POST_OFFICE_MESSAGES = int(os.environ.get("BENCH_POST_OFFICE_MESSAGES", "10000"))
# Worker memory is read when this many are sent and again at the end: flat means equal.
MEMORY_MARK = int(os.environ.get("BENCH_MAIL_MEMORY_MARK", "10000"))
# Messages each raw reference run sends (its rate is steady: a sample of a huge mailing will do).
RAW_MESSAGES = int(os.environ.get("BENCH_MAIL_RAW_MESSAGES", str(RECIPIENTS)))
WORKER_PROCESSES = int(os.environ.get("BENCH_MAIL_WORKERS", "2"))
CONNECTIONS = 4
# The raw reference cycles through this many distinct pre-built messages (100,000 of ~10 KB
# would hold a gigabyte in this process); each still goes to its own recipient.
RAW_POOL = 10_000
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SITE = "https://www.savethechildren.example"


def _populate(cursor: Any, count: int) -> None:
    cursor.execute(
        """
        WITH new AS (
            INSERT INTO campaign_supporter (email, first_name, language, status, created_at,
                updated_at, confirmed_at, pseudonym, source_page, source_referrer, utm_source,
                utm_medium, utm_campaign, utm_term, utm_content, link_secret, confirmation_nonce)
            SELECT 'mail-' || g || '@voorbeeld.nl', 'Sanne', CASE WHEN g %% 4 = 0 THEN 'en'
                   ELSE 'nl' END, 'active', now(), now(), now(), '', '', '', 'bench', '', '', '',
                   '', substr(md5(g::text), 1, 12), ''
            FROM generate_series(1, %s) g
            RETURNING id
        )
        INSERT INTO campaign_consent (supporter_id, topic, text_id, method, given_at, user_agent,
            confirmed_at, confirmed_user_agent, withdrawn_method)
        SELECT id, 'stories', (SELECT max(id) FROM campaign_consenttext WHERE topic = 'stories'),
               'import', now(), '', now(), '', '' FROM new
        """,
        [count],
    )


def _sink() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [SMTP_SINK, "-u", "nobody", "-c", f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
            return process, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("smtp-sink did not start (Debian package postfix)")


def _raw(port: int, pool: list[bytes], count: int) -> float:
    """Reference: pre-built bytes over 4 persistent smtplib connections, in threads."""

    def run(offset: int) -> None:
        connection = smtplib.SMTP("127.0.0.1", port)
        for i in range(offset, count, CONNECTIONS):
            connection.sendmail(
                "verhalen@savethechildren.example", [f"mail-{i}@voorbeeld.nl"], pool[i % len(pool)]
            )
        connection.quit()

    threads = [threading.Thread(target=run, args=(offset,)) for offset in range(CONNECTIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - started)


class Memory:
    """Peak memory of the worker's process tree: the largest single process (RSS), and the
    whole tree by PSS (shared pages counted once, split between the processes sharing them)."""

    def __init__(self, root: subprocess.Popen[bytes]) -> None:
        self.root = root
        self.largest_rss = 0
        self.total_pss = 0

    def sample(self, *, pss: bool = True) -> None:
        """RSS is cheap to read; PSS walks the page tables, so the send loop asks for it
        only every few seconds (reading it costs the machine the bench is measuring)."""
        try:
            parent = psutil.Process(self.root.pid)
            tree = [parent, *parent.children(recursive=True)]
            self.largest_rss = max(self.largest_rss, *(p.memory_info().rss for p in tree))
            if pss:
                total = sum(p.memory_full_info().pss for p in tree)
                self.total_pss = max(self.total_pss, total)
        except psutil.Error:
            return

    def line(self) -> str:
        return (
            f"largest process {self.largest_rss / 2**20:.0f} MB RSS, "
            f"tree {self.total_pss / 2**20:.0f} MB PSS"
        )


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return celery_worker(
        env,
        queues="mail",
        concurrency=WORKER_PROCESSES,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_until_ready() -> None:
    """Until the worker answers a ping (its pool is up); start-up is not part of the send."""
    from worker.celery_app import app

    deadline = time.monotonic() + 120
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not start within two minutes")
    time.sleep(1)  # the pool's processes finish their own start-up


def _ours(
    mailing: Any, worker: subprocess.Popen[bytes]
) -> tuple[float, str, str, tuple[float, float]]:
    """Schedule the mailing, tick like beat does, wait until it is finished."""
    from django.db.models import Max
    from django.utils import timezone

    from mailing.models import Delivery, Mailing
    from mailing.services import mailing_schedule, mailing_tick

    memory = Memory(worker)
    memory.sample()
    database = DatabaseCpu()
    tree = psutil.Process(worker.pid)
    start_cpu = _cpu_seconds([tree, *tree.children(recursive=True)])  # start-up excluded
    at_mark = ""
    mark_rss = 0.0
    scheduled_at = timezone.now()
    mailing_schedule(mailing_id=mailing.pk, send_at=scheduled_at)
    started = time.perf_counter()
    last_tick = last_pss = last_count = 0.0
    while True:
        now = time.perf_counter()
        if now - last_tick >= 1:
            mailing_tick()  # what beat does every MAILING_TICK_SECONDS
            last_tick = now
        every_5_s = now - last_pss >= 5
        if every_5_s:
            database.sample()
            last_pss = now
        memory.sample(pss=every_5_s)
        # Counting reads the whole ledger (a million rows): every 2 s, not to load the database
        # the workers share.
        counting = not at_mark and now - last_count >= 2
        last_count = now if counting else last_count
        if counting and Delivery.objects.filter(state="sent").count() >= min(
            MEMORY_MARK, RECIPIENTS
        ):
            memory.sample()
            at_mark = memory.line()
            mark_rss = memory.largest_rss / 2**20
        mailing.refresh_from_db()
        if mailing.state == Mailing.State.FINISHED:
            break
        if now - started > 3600:
            raise SystemExit("mailing not finished after an hour")
        time.sleep(0.5)
    memory.sample()
    finished_after = time.perf_counter() - started
    rows = Delivery.objects.filter(message__mailing=mailing)
    sent = rows.filter(state="sent").count()
    if sent != RECIPIENTS:
        raise SystemExit(f"only {sent} of {RECIPIENTS} sent")
    # Like the reference, until the last message is accepted: from the moment the mailing fell
    # due (fan-out included) to the last sent_at. "Finished" comes with the next tick (every
    # MAILING_TICK_SECONDS; each second here), a bookkeeping step after the sending is done.
    last = rows.aggregate(last=Max("sent_at"))["last"]
    elapsed = (last - scheduled_at).total_seconds()
    print(f"CPU per message: {_cpu_line(worker, sent, start_cpu, database)}")
    print(f"last message sent after {elapsed:.1f} s, mailing finished after {finished_after:.1f} s")
    return RECIPIENTS / elapsed, at_mark, memory.line(), (mark_rss, memory.largest_rss / 2**20)


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class DatabaseCpu:
    """CPU of this database's PostgreSQL sessions while the mailing runs, read every few
    seconds: a worker's session ends after DB_CONN_MAX_AGE, and read only at the end, the ones
    that ended would be missed (up to the last sample's worth of each still is)."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self.sample()
        # What the sessions open now had spent before (this bench filling the tables) is not
        # the mailing's.
        self.before = dict(self.seconds)

    def sample(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            pids = [pid for (pid,) in cursor.fetchall()]
        for pid in pids:
            try:
                used = _cpu_seconds([psutil.Process(pid)])
            except psutil.Error:
                continue
            self.seconds[pid] = max(used, self.seconds.get(pid, 0.0))

    def total(self) -> float:
        return sum(used - self.before.get(pid, 0.0) for pid, used in self.seconds.items())


def _cpu_line(
    worker: subprocess.Popen[bytes], count: int, start_cpu: float, database: DatabaseCpu
) -> str:
    """Where the CPU went (the machine is shared, so elapsed time alone can mislead)."""
    parent = psutil.Process(worker.pid)
    database.sample()
    worker_cpu = _cpu_seconds([parent, *parent.children(recursive=True)]) - start_cpu
    worker_us = worker_cpu / count * 1e6
    database_us = database.total() / count * 1e6
    return f"worker {worker_us:.0f} us, PostgreSQL {database_us:.0f} us (its sessions)"


def _post_office(parts: Any, personal: Any, subject: str) -> float:
    """The same personalised messages through django-post-office's queue (enqueue + send)."""
    from django.conf import settings
    from post_office import mail
    from post_office.models import Email

    from mailing.rendering import fill_placeholders

    def values(p: Any) -> dict[str, str]:
        name = p.name or parts.fallback_name
        return {
            "name": name,
            "donate_url": p.donate_url,
            "preferences_url": p.preferences_url,
            "unsubscribe_url": p.unsubscribe_url,
        }

    logging.getLogger("post_office").setLevel(logging.WARNING)
    batch = []
    for i in range(POST_OFFICE_MESSAGES):
        p = personal(i, prefix="po")
        v = values(p)
        escaped = {key: html_lib.escape(value) for key, value in v.items()}
        batch.append(
            {
                "recipients": [p.address],
                "sender": settings.DEFAULT_FROM_EMAIL,
                "subject": subject,
                "message": fill_placeholders(parts.text, v.__getitem__),
                "html_message": fill_placeholders(parts.html, escaped.__getitem__),
                "headers": {
                    "Message-ID": p.message_id,
                    "Reply-To": settings.MAILING_REPLY_TO,
                    "List-Id": settings.MAILING_LIST_ID,
                    "List-Unsubscribe": f"<{p.unsubscribe_url}>, <{p.unsubscribe_mailto}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            }
        )
    started = time.perf_counter()
    for i in range(0, len(batch), 1000):
        mail.send_many(batch[i : i + 1000])
    with tempfile.TemporaryDirectory() as folder:
        mail.send_queued_mail_until_done(lockfile=f"{folder}/po", processes=WORKER_PROCESSES)
    elapsed = time.perf_counter() - started
    sent = Email.objects.filter(status=0).count()  # post_office's STATUS.sent
    if sent != POST_OFFICE_MESSAGES:
        raise SystemExit(f"post_office sent {sent} of {POST_OFFICE_MESSAGES}")
    return POST_OFFICE_MESSAGES / elapsed


def main(result: str = "mail_throughput") -> None:
    print(load_line("before"), flush=True)
    began = time.perf_counter()
    env = {**base_env(), "DJANGO_SETTINGS_MODULE": "bench.settings_post_office"}
    sink, port = _sink()
    env["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    env.setdefault("SITE_URL", SITE)
    try:
        with leased_redis_database(env) as redis_url, scratch_database("bench_mailing", env) as url:
            os.environ.update(env)
            os.environ["DATABASE_URL"] = url
            os.environ["REDIS_URL"] = redis_url  # the bench's tick and the worker share it
            _run(port, result)
    finally:
        sink.kill()
    print(load_line("after"))
    print(f"{Path(sys.argv[0]).name} took {time.perf_counter() - began:.0f} s")


def _run(port: int, result: str) -> None:
    import django

    django.setup()
    from django.db import connection

    from campaign.models import Campaign, Story
    from mailing.models import Mailing
    from mailing.rendering import Personal, compile_content, message_bytes, render_parts
    from mailing.services import message_snapshot

    with connection.cursor() as cursor:
        _populate(cursor, RECIPIENTS)
    campaign = Campaign.objects.create(
        slug="bench", name_nl="Save the Survivors", tagline_nl="-", intro_nl="-"
    )
    paragraph = (
        "Op de Centrale Mediterrane Route reist een kind vaak maanden alleen. Onderweg "
        "wachten schulden, dwangarbeid en uitbuiting. Een veilige plek maakt het verschil.\n\n"
    )
    story = Story.objects.create(
        campaign=campaign,
        slug="bench-verhaal",
        child_pseudonym="Samir",
        route_nl="Libië",
        title_nl="Samir vond een veilige plek",
        summary_nl="Een verhaal.",
        body_nl=paragraph * 4,
        is_published=True,
    )
    mailing = Mailing.objects.create(
        name="bench",
        story=story,
        subject_nl="Samir vond een veilige plek",
        preheader_nl="Lees zijn verhaal.",
    )

    def personal(i: int, *, prefix: str = "mail") -> Personal:
        token = f"{i}.{i:012x}:Yx1p0bQ4dV7c2sGq9hWmZ3rTnK8uLa5eXfJ6oC0iBvE"
        return Personal(
            address=f"{prefix}-{i}@voorbeeld.nl",
            name="Sanne",
            donate_url=f"{SITE}/doneer/?source={i}:Qm3vX8kP1dR7tW2zL9cN5bH4sF6gJ0aYeUoIpKiZ",
            preferences_url=f"{SITE}/nl/voorkeuren/{token}/",
            unsubscribe_url=f"{SITE}/u/{token}/",
            unsubscribe_mailto=f"mailto:afmelden@savethechildren.example?subject=unsubscribe%20{token}",
            message_id=f"<{prefix}-{i}@savethechildren.example>",
        )

    content = message_snapshot(mailing)
    compiled = compile_content(content, "nl", boundary_seed="bench")
    pool = [message_bytes(compiled, personal(i)) for i in range(min(RAW_POOL, RECIPIENTS))]
    size = sum(len(d) for d in pool) // len(pool)
    raw_before = _raw(port, pool, RAW_MESSAGES)
    print(
        f"raw smtplib x{CONNECTIONS}: {raw_before:.0f} messages/s ({size} bytes each)", flush=True
    )

    worker = _worker({**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"})
    try:
        _wait_until_ready()  # worker start-up, outside the clock
        ours, at_mark, at_end, (mark_rss, end_rss) = _ours(mailing, worker)
    finally:
        os.killpg(worker.pid, 9)
    print(f"ours (Celery, {WORKER_PROCESSES} processes): {ours:.0f} messages/s", flush=True)
    raw_after = _raw(port, pool, RAW_MESSAGES)
    del pool
    raw = (raw_before + raw_after) / 2
    print(f"raw smtplib x{CONNECTIONS} again: {raw_after:.0f} messages/s (mean {raw:.0f})")

    print(f"worker peak memory at {min(MEMORY_MARK, RECIPIENTS):,} sent: {at_mark}")
    print(f"worker peak memory at {RECIPIENTS:,} sent: {at_end} (target: flat, < 250 MB)")
    if result != "mail_throughput":
        print(f"RESULT {result} ratio={ours / raw:.2f} target>=0.50 recipients={RECIPIENTS}")
        print(
            f"RESULT {result} largest_process_rss_mb sent={min(MEMORY_MARK, RECIPIENTS)} "
            f"{mark_rss:.0f} sent={RECIPIENTS} {end_rss:.0f} target<250 (flat)"
        )
        return
    post_office = _post_office(render_parts(content, "nl"), personal, mailing.subject_nl)
    print(f"django-post-office ({WORKER_PROCESSES} processes): {post_office:.0f} messages/s")
    print(f"RESULT mail_throughput ratio_vs_raw={ours / raw:.2f} target=0.40")
    print(f"RESULT mail_vs_post_office ratio={ours / post_office:.1f} target=5.0")


if __name__ == "__main__":
    main()
