"""Shared helpers for the benchmarks: a scratch database, servers, wrk."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.embedded import free_port  # noqa: E402


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/survivors")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    env.setdefault("LOG_LEVEL", "WARNING")
    env.setdefault("LOG_FORMAT", "console")
    return env


@contextmanager
def scratch_database(name: str, env: dict[str, str]) -> Iterator[str]:
    """A fresh, migrated database for one benchmark run; dropped afterwards."""
    parts = urlsplit(env["DATABASE_URL"])
    admin = urlunsplit(parts._replace(path="/postgres"))
    url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**env, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def leased_redis_database(env: dict[str, str]) -> Iterator[str]:
    """A Redis database (1-15) of this run's own, leased like the test harness does
    (tests/harness/plugin.py), so a bench's workers never consume another run's queues and a
    flush never empties them. Yields its URL; flushed and released afterwards."""
    import redis

    parts = urlsplit(env["REDIS_URL"])
    leases = redis.Redis.from_url(urlunsplit(parts._replace(path="/0")))
    owner = f"bench-{os.getpid()}"
    deadline = time.monotonic() + 900  # a busy machine frees one within minutes
    db = 0
    while not db:
        db = next(
            (
                n
                for n in range(1, 16)
                if leases.set(f"sts-test-lease:{n}", owner, nx=True, ex=4 * 3600)
            ),
            0,
        )
        if not db and time.monotonic() > deadline:
            raise SystemExit("all 15 Redis databases are leased: too many test or bench runs")
        if not db:
            time.sleep(5)
    url = urlunsplit(parts._replace(path=f"/{db}"))
    redis.Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()
        if leases.get(f"sts-test-lease:{db}") == owner.encode():
            leases.delete(f"sts-test-lease:{db}")


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 4, threads: int = 1) -> Iterator[str]:
    """gunicorn on a free port; `threads` > 1 gives gthread workers (as the run command's)."""
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
            str(workers),
            "--worker-class",
            "sync" if threads == 1 else "gthread",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            # wrk may leave a connection open unused at the end of a burst: a sync worker
            # waiting on it must not be killed (and its CPU figures lost) after 30 s.
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    # On a busy machine the workers can take minutes to boot: measuring a server that does not
    # answer yet would print 0 req/s (or divide by it), so wait, then refuse.
    deadline = time.monotonic() + 240
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                process.terminate()
                raise SystemExit(f"gunicorn did not answer {base}/healthz within 240 s") from None
            time.sleep(0.2)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(30)


def celery_worker(
    env: dict[str, str], *, queues: str, concurrency: int | str, name: str = "", **popen: Any
) -> subprocess.Popen[bytes]:
    """A Celery worker process of the product's app on `queues` (as the run command starts one,
    without the cluster chatter a benchmark does not need)."""
    args = [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", queues]
    args += ["--concurrency", str(concurrency), "--without-mingle", "--without-gossip"]
    args += ["--loglevel", "WARNING", *(["-n", name] if name else [])]
    return subprocess.Popen(args, cwd=ROOT, env=env, **popen)


def wrk(
    url: str,
    *,
    script: Path,
    seconds: int = 8,
    connections: int = 16,
    finished: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Run wrk; return requests/s and p99 latency in ms. wrk runs for its whole -d even when a
    send-once script's threads have stopped, so `finished` (polled twice a second) ends it
    early with SIGINT, on which wrk still prints its figures."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: run ./scripts/setup --system (Debian package wrk)")
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while finished is not None and process.poll() is None:
        if finished():
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.5)
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"wrk failed ({process.returncode}): {err[-500:]}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rate": rate,
        "p99_ms": float(p99.group(1)) * scale,
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def all_arrived(count: Callable[[], int], total: int, *, slack: int) -> Callable[[], bool]:
    """For `wrk(finished=...)`: true once at least total - slack requests have arrived (wrk
    drops the few in flight when its threads stop) and none came since the last look."""
    last = -1

    def finished() -> bool:
        nonlocal last
        now = count()
        done = now >= total - slack and now == last
        last = now
        return done

    return finished


def _cpu(proc: Any) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _part(proc: Any, me: Any, clients: dict[int, int]) -> str | None:
    if proc.pid == me.pid:
        return "bench process"
    if proc.name() == "postgres":
        return _backend_part(proc, me, clients)
    parents = {p.pid for p in proc.parents()}
    if me.pid not in parents:
        return None
    command = " ".join(proc.cmdline())
    return next((n for n in ("gunicorn", "celery", "wrk") if n in command), "other children")


def _backend_part(proc: Any, me: Any, clients: dict[int, int]) -> str:
    """ "postgresql for <part>": the part whose connection a backend serves, found by the client
    port in its process title ("postgres: user db 127.0.0.1(40312) idle")."""
    import psutil

    port = re.search(r"\((\d+)\)", " ".join(proc.cmdline()))
    client = clients.get(int(port.group(1))) if port else None
    if client is None:
        return "postgresql"
    try:
        part = _part(psutil.Process(client), me, clients)
    except psutil.Error:
        part = None
    return f"postgresql for {part}" if part else "postgresql"


def cpu_by_part() -> dict[tuple[str, int], float]:
    """CPU seconds used so far by each process of the benchmark's parts: itself (with its
    in-process servers), its descendants by kind (web, worker, ...), every PostgreSQL process
    on the machine, and children that have exited (wrk). Read twice; see cpu_report."""
    import psutil

    me = psutil.Process()
    # Local TCP port -> the process holding it: whose connection each backend serves.
    clients = {c.laddr.port: c.pid for c in psutil.net_connections("tcp") if c.pid and c.raddr}
    used: dict[tuple[str, int], float] = {}
    exited = me.cpu_times()
    used[("exited children (wrk)", 0)] = float(exited.children_user + exited.children_system)
    for proc in psutil.process_iter(["name"]):
        try:
            part = _part(proc, me, clients)
            if part is not None:
                used[(part, proc.pid)] = _cpu(proc)
        except psutil.Error:
            continue
    return used


def cpu_report(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float], per: int, unit: str
) -> None:
    """Print each part's CPU between two readings, in total and per `unit`. Processes started
    in between count in full; those that ended in between (a killed web worker, a closed
    database connection) are missing, so the figures are lower bounds."""
    parts: dict[str, float] = {}
    for (part, pid), seconds in after.items():
        parts[part] = parts.get(part, 0.0) + seconds - before.get((part, pid), 0.0)
    print(f"CPU by part (ms per {unit}):")
    for name, seconds in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {name:24s} {seconds:7.1f} s  {seconds * 1000 / per:6.2f}")


# --- an SMTP sink in a process of its own that counts recipients --------------------------


def _sink_main(port: int, report: str) -> None:
    from aiosmtpd.controller import Controller

    counts: Counter[str] = Counter()

    class Count:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            counts.update(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()

    def dump(*_: Any) -> None:
        Path(report).write_text(json.dumps(counts))

    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    asyncio.run(asyncio.sleep(10**9))


class Sink:
    def __init__(self, report: Path) -> None:
        self.port = free_port()
        self.report = report
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.common", "--sink", str(self.port), str(report)],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                smtplib.SMTP("127.0.0.1", self.port, timeout=2).quit()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the SMTP sink did not start")

    def counts(self) -> Counter[str]:
        self.report.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not self.report.exists() or not self.report.read_text():
            if time.monotonic() > deadline:
                raise SystemExit("the SMTP sink did not report its counts")
            time.sleep(0.05)
        return Counter(json.loads(self.report.read_text()))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


if __name__ == "__main__" and sys.argv[1:2] == ["--sink"]:
    _sink_main(int(sys.argv[2]), sys.argv[3])
