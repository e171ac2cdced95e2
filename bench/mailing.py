"""A scheduled mailing of 100,000 supporters through Celery workers to postfix's smtp-sink,
against smtplib sending pre-built messages over 4 persistent connections, in the same run.

Prints RESULT mail_throughput ratio_vs_raw=<x> target=0.40 and the workers' peak RSS at 10,000
and at all recipients. The django-post-office comparison (RESULT mail_vs_post_office) is not
built yet: it needs post_office installed and migrated in a bench-only settings module.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, base_env, scratch_database
from config.embedded import free_port

RECIPIENTS = int(os.environ.get("BENCH_MAIL_RECIPIENTS", "100000"))
CONNECTIONS = 4
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def _populate(cursor: object, count: int) -> None:
    cursor.execute(  # type: ignore[attr-defined]
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


def _raw(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Reference: pre-built bytes over 4 persistent smtplib connections, in threads."""
    shares = [messages[i::CONNECTIONS] for i in range(CONNECTIONS)]

    def run(share: list[tuple[str, bytes]]) -> None:
        connection = smtplib.SMTP("127.0.0.1", port)
        for address, data in share:
            connection.sendmail("verhalen@savethechildren.example", [address], data)
        connection.quit()

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(messages) / (time.perf_counter() - started)


def _rss(process: subprocess.Popen[bytes]) -> int:
    try:
        parent = psutil.Process(process.pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def main() -> None:
    env = base_env()
    with scratch_database("bench_mailing", env) as url:
        os.environ["DATABASE_URL"] = url
        os.environ["REDIS_URL"] = env["REDIS_URL"]  # publisher and worker share one broker
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        sink, port = _sink()
        os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
        os.environ.setdefault("SITE_URL", "https://www.savethechildren.example")
        import django

        django.setup()
        import redis
        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        from campaign.models import Campaign, Story
        from mailing.models import Delivery, Mailing
        from mailing.rendering import Personal, compile_content, message_bytes
        from mailing.services import mailing_schedule, mailing_tick, message_snapshot

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
            body_nl=paragraph * 8,
            is_published=True,
        )
        mailing = Mailing.objects.create(
            name="bench",
            story=story,
            subject_nl="Samir vond een veilige plek",
            preheader_nl="Lees zijn verhaal.",
        )

        # Reference messages: the same rendering, built before the clock starts.
        compiled = compile_content(message_snapshot(mailing), "nl", boundary_seed="bench")
        prebuilt = [
            (
                f"mail-{i}@voorbeeld.nl",
                message_bytes(
                    compiled,
                    Personal(
                        address=f"mail-{i}@voorbeeld.nl",
                        name="Sanne",
                        donate_url=f"{settings.SITE_URL}/doneer/?source={i}",
                        preferences_url=f"{settings.SITE_URL}/voorkeuren/{i}/",
                        unsubscribe_url=f"{settings.SITE_URL}/u/{i}/",
                        unsubscribe_mailto=f"mailto:afmelden@savethechildren.example?subject={i}",
                        message_id=f"<raw-{i}@savethechildren.example>",
                    ),
                ),
            )
            for i in range(RECIPIENTS)
        ]
        size = sum(len(d) for _, d in prebuilt) // len(prebuilt)
        raw_rate = _raw(port, prebuilt)
        del prebuilt
        print(f"raw smtplib x{CONNECTIONS}: {raw_rate:.0f} messages/s ({size} bytes each)")

        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        worker_env = {**os.environ, "REDIS_URL": env["REDIS_URL"], "LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "worker",
                "-Q",
                "mail",
                "--concurrency",
                "2",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=worker_env,
            start_new_session=True,
        )
        try:
            time.sleep(4)  # worker start-up, outside the clock
            mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
            started = time.perf_counter()
            peak = peak_10k = 0
            last_tick = 0.0
            while True:
                if time.perf_counter() - last_tick > 1:
                    mailing_tick()  # what beat does every MAILING_TICK_SECONDS
                    last_tick = time.perf_counter()
                sent = Delivery.objects.filter(state="sent").count()
                peak = max(peak, _rss(worker))
                if sent >= min(10_000, RECIPIENTS) and not peak_10k:
                    peak_10k = peak
                mailing.refresh_from_db()
                if mailing.state == Mailing.State.FINISHED:
                    break
                if time.perf_counter() - started > 1800:
                    raise SystemExit(f"mailing not finished after 30 min ({sent} sent)")
                time.sleep(0.25)
            elapsed = time.perf_counter() - started
        finally:
            os.killpg(worker.pid, 9)
            sink.kill()
        ours = RECIPIENTS / elapsed
        print(f"ours (Celery, 2 processes): {ours:.0f} messages/s, {elapsed:.1f} s")
        print(
            f"worker peak RSS: {peak_10k / 2**20:.0f} MB at 10k, {peak / 2**20:.0f} MB at "
            f"{RECIPIENTS} (target: flat, < 250 MB)"
        )
        print(f"RESULT mail_throughput ratio_vs_raw={ours / raw_rate:.2f} target=0.40")
        print("RESULT mail_vs_post_office ratio=n/a target=5.0 (not measured yet)")


if __name__ == "__main__":
    main()
