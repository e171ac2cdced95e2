"""Sign-up throughput: POST /api/signups against a bare view on the same server, same run.

    .venv/bin/python bench/signups.py            # or: make bench

Starts its own gunicorn on a scratch database (created on the PostgreSQL of DATABASE_URL,
migrated, dropped afterwards) and a Redis database of its own (REDIS_URL's server, database
BENCH_REDIS_DB, default 13, emptied before and after). Every request is a new address, so each
one does the whole job: both rate-limit counters in Redis (one round trip), validation, the
supporter, its audit-log entry, its audit row, its consents and its outbox row in one
transaction, and the nudge (at most once a second) of the flush that publishes the task.
Load comes from wrk (Debian package wrk), or from a threaded Python client without it.

After the clock, a Celery worker sends the confirmation emails to a counting SMTP sink, and the
run is valid only if every sign-up wrote exactly one supporter, two consents (two topics), one
audit row, one audit-log entry, one confirmation task and one email. Prints the load average
before and after and the CPU of each part per request.

Prints RESULT signup ratio=<sign-ups per second / bare-view requests per second> target>=0.10.

This file is also the benchmark server's settings and URLconf (imported as bench.signups):
the product's settings and URLs plus one bare view, the reference.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WARMUP_SECONDS = 2
SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
CONNECTIONS = 16

if __name__ != "__main__":
    # Imported by the benchmark server as DJANGO_SETTINGS_MODULE and ROOT_URLCONF.
    from config.settings import *  # noqa: F403

    ROOT_URLCONF = "bench.signups"

    def __getattr__(name: str) -> Any:
        # The URLconf is read after the apps are ready; importing config.urls earlier would fail.
        if name != "urlpatterns":
            raise AttributeError(name)
        from django.db import connection
        from django.http import HttpRequest, HttpResponse
        from django.urls import path
        from django.views.decorators.csrf import csrf_exempt

        from config.urls import urlpatterns as product

        def bare(request: HttpRequest) -> HttpResponse:
            return HttpResponse("ok", content_type="text/plain")

        @csrf_exempt
        def one_insert(request: HttpRequest) -> HttpResponse:
            # A second yardstick: the least any sign-up must do, one committed row.
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO bench_signup_reference (body) VALUES (%s)", [request.body.decode()]
                )
            return HttpResponse("ok", content_type="text/plain", status=202)

        return [path("bench/bare/", bare), path("bench/insert/", one_insert), *product]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/survivors")
    redis = urlsplit(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    env["REDIS_URL"] = urlunsplit(redis._replace(path=f"/{os.environ.get('BENCH_REDIS_DB', '13')}"))
    env.update(
        LOG_LEVEL="WARNING",
        LOG_FORMAT="console",
        PYTHONPATH=str(ROOT),
        # Counted for real, never reached: the benchmark measures the work, not the refusals.
        SUPPORTERS_RATE_SIGNUP_IP="1000000000/m",
        SUPPORTERS_RATE_SIGNUP_EMAIL="1000000000/m",
    )
    return env


def _psql_admin(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def _scratch_database(env: dict[str, str]) -> str:
    import psycopg

    name = f"survivors_bench_signups_{os.getpid()}"
    with psycopg.connect(_psql_admin(env["DATABASE_URL"]), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(env["DATABASE_URL"])._replace(path=f"/{name}"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": url},
        check=True,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_signup_reference (id bigserial PRIMARY KEY, body text)")
    return url


def _drop_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_psql_admin(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    from config.embedded import free_port

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "bench.signups"},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the benchmark server did not start")
        try:
            urllib.request.urlopen(f"{base}/bench/bare/", timeout=2)
            return process, base
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the benchmark server did not answer within 60 s")


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


WRK_SIGNUP = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"email":"bench-%s-%d-%d@voorbeeld.nl","language":"nl","topics":["stories","appeals"],'
    .. '"consent":true,"utm_source":"bench"}', run, tid, n)
  return wrk.format("POST", target, {["Content-Type"] = "application/json"}, body)
end
"""


def _wrk(url: str, *, seconds: int, script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if rate is None or p99 is None:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rate": float(rate.group(1)),
        "p99_ms": float(p99.group(1)) * scale,
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def _python_load(base: str, *, seconds: int, target: str) -> dict[str, float]:
    """Fallback without wrk: CONNECTIONS threads on keep-alive connections."""
    host = urlsplit(base)
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    run = uuid.uuid4().hex[:8]

    def worker(number: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port, timeout=30)
        mine: list[float] = []
        count = 0
        while time.monotonic() < stop:
            count += 1
            started = time.perf_counter()
            if target == BARE:
                conn.request("GET", target)
            else:
                body = json.dumps(
                    {
                        "email": f"bench-{run}-{number}-{count}@voorbeeld.nl",
                        "language": "nl",
                        "topics": ["stories", "appeals"],
                        "consent": True,
                    }
                )
                conn.request("POST", target, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status >= 300:
                with lock:
                    errors += 1
        with lock:
            latencies.extend(mine)
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    return {"rate": len(latencies) / seconds, "p99_ms": p99, "errors": float(errors)}


BARE = "/bench/bare/"
INSERT = "/bench/insert/"
SIGNUP = "/api/signups"


def measure(base: str, target: str, *, seconds: int) -> dict[str, float]:
    if shutil.which("wrk") is None:
        return _python_load(base, seconds=seconds, target=target)
    if target == BARE:
        return _wrk(f"{base}{BARE}", seconds=seconds, script=None)
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "post.lua"
        script.write_text(f'run = "{uuid.uuid4().hex[:8]}"\ntarget = "{target}"\n' + WRK_SIGNUP)
        return _wrk(base, seconds=seconds, script=script)


def main() -> None:
    from bench.common import Sink, cpu_by_part, cpu_report

    print(f"load average before: {_load()}", flush=True)
    env = _env()
    _flush_redis(env["REDIS_URL"])
    database = _scratch_database(env)
    env["DATABASE_URL"] = database
    report = Path(tempfile.mkdtemp(prefix="bench-signups-")) / "sink.json"
    sink = Sink(report)
    env["EMAIL_URL"] = f"smtp://127.0.0.1:{sink.port}"
    process, base = _start_server(env)
    try:
        for target in (BARE, INSERT, SIGNUP):
            measure(base, target, seconds=WARMUP_SECONDS)
        before = cpu_by_part()
        bare = measure(base, BARE, seconds=SECONDS)
        insert = measure(base, INSERT, seconds=SECONDS)
        middle = cpu_by_part()
        signups = measure(base, SIGNUP, seconds=SECONDS)
        after = cpu_by_part()
        _stop_server(process)
        counts = _count_rows(database)
        emails = _send_confirmations(env, database, sink, counts["supporters"])
    finally:
        _stop_server(process)
        sink.stop()
        report.unlink(missing_ok=True)
        report.parent.rmdir()
        _drop_database(database)
        _flush_redis(env["REDIS_URL"])

    load = "wrk" if shutil.which("wrk") else "python threads"
    print(
        f"load: {load}, {CONNECTIONS} connections, {SECONDS} s each; "
        "server: gunicorn, 2 workers x 4 threads (as config.runall)"
    )
    for name, figures in (
        ("GET bare view (reference)", bare),
        ("POST one committed INSERT", insert),
        ("POST /api/signups", signups),
    ):
        print(
            f"{name:27}: {figures['rate']:8.1f} req/s  p99 {figures['p99_ms']:7.1f} ms  "
            f"non-2xx {int(figures['errors'])}"
        )
    cpu_report(before, middle, per=int((bare["rate"] + insert["rate"]) * SECONDS), unit="request")
    cpu_report(middle, after, per=max(int(signups["rate"] * SECONDS), 1), unit="sign-up")
    print("stored per sign-up (each must be exactly 1): " + _per_signup(counts, emails))
    print(f"load average after: {_load()}")
    if signups["errors"] or insert["errors"]:
        raise SystemExit("some requests failed; the figures are not valid")
    if not _each_once(counts, emails):
        raise SystemExit("a sign-up's rows or email are missing or doubled: figures not valid")
    print(f"sign-ups per one-INSERT request: {signups['rate'] / insert['rate']:.3f}")
    print(f"RESULT signup ratio={signups['rate'] / bare['rate']:.3f} target>=0.10")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def _count_rows(url: str) -> dict[str, int]:
    """What the sign-ups wrote: supporters, their consents (two topics each), their audit rows
    (ours and the audit log's) and their confirmation tasks."""
    import psycopg

    queries = {
        "supporters": "SELECT count(*) FROM campaign_supporter",
        "consents": "SELECT count(*) FROM campaign_consent",
        "audit": "SELECT count(*) FROM campaign_supporteraudit WHERE action = 'signed_up'",
        "audit_log": (
            "SELECT count(*) FROM auditlog_logentry l JOIN django_content_type t "
            "ON t.id = l.content_type_id WHERE t.app_label = 'campaign' "
            "AND t.model = 'supporter' AND l.action = 0"
        ),
        "tasks": (
            "SELECT count(*) FROM worker_outboxtask "
            "WHERE task_name = 'campaign.tasks.confirmation_send'"
        ),
    }
    with psycopg.connect(url) as conn:
        return {
            name: int(conn.execute(query).fetchone()[0])  # type: ignore[index]
            for name, query in queries.items()
        }


def _send_confirmations(
    env: dict[str, str], url: str, sink: Any, supporters: int
) -> dict[str, int]:
    """After the clock: a worker on the default queue takes the flush nudges the sign-ups left
    and sends every confirmation email to the counting sink. Returns emails per address."""
    import psycopg

    from bench.common import celery_worker

    worker = celery_worker(
        {**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        queues="default",
        concurrency=2,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT count(*) FROM campaign_supporteraudit "
                    "WHERE action = 'confirmation_sent'"
                ).fetchone()
                if row and row[0] >= supporters:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {row[0] if row else 0} confirmations sent in 10 min")
                time.sleep(1)
        time.sleep(2)  # anything sent twice would arrive now
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    return dict(sink.counts())


def _per_signup(counts: dict[str, int], emails: dict[str, int]) -> str:
    supporters = max(counts["supporters"], 1)
    return (
        f"{counts['supporters']} supporters; consents {counts['consents'] / 2 / supporters:.3f} "
        f"(two topics), audit {counts['audit'] / supporters:.3f}, "
        f"audit log {counts['audit_log'] / supporters:.3f}, "
        f"confirmation tasks {counts['tasks'] / supporters:.3f}, "
        f"emails {sum(emails.values()) / supporters:.3f} to {len(emails)} addresses"
    )


def _each_once(counts: dict[str, int], emails: dict[str, int]) -> bool:
    n = counts["supporters"]
    return (
        n > 0
        and counts["consents"] == 2 * n
        and counts["audit"] == counts["audit_log"] == counts["tasks"] == n
        and len(emails) == n
        and all(count == 1 for count in emails.values())
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
