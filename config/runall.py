"""The run command: web server, Celery worker and beat, with demo content.

Without DATABASE_URL / REDIS_URL it starts embedded PostgreSQL and Redis with their data under
var/ (kept between runs). Ctrl-C (or SIGTERM) stops every process it started.

    python -m config.runall            # what `make run` calls
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from config.embedded import EmbeddedServer, free_port, start_postgres, start_redis, stop_all

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
# devstripe's account, kept between runs: a run stopped half-way through its seed is finished
# by the next against the same Stripe (its gifts can still be renewed, refunded, paid out).
STRIPE_STATE = VAR / "devstripe-state.json"


def _say(message: str) -> None:
    print(f"[run] {message}", flush=True)


def _embedded_servers(env: dict[str, str]) -> list[EmbeddedServer]:
    servers: list[EmbeddedServer] = []
    if not env.get("DATABASE_URL"):
        started = time.monotonic()
        pg = start_postgres(VAR / "postgres", port=55432)
        servers.append(pg)
        env["DATABASE_URL"] = pg.url
        _say(f"embedded PostgreSQL at {pg.url} ({time.monotonic() - started:.1f} s)")
    if not env.get("REDIS_URL"):
        started = time.monotonic()
        rd = start_redis(VAR / "redis", port=56379)
        servers.append(rd)
        env["REDIS_URL"] = rd.url
        _say(f"embedded Redis at {rd.url} ({time.monotonic() - started:.1f} s)")
    return servers


def _wait_until_healthy(site_url: str, children: dict[str, subprocess.Popen[bytes]]) -> bool:
    """Wait for /healthz to answer 200 (database, Redis and broker reachable), so "serving" is
    printed when a browser would get a page, not when gunicorn merely started importing."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children.values()):
            return False
        try:
            with urllib.request.urlopen(f"{site_url}/healthz", timeout=2) as response:  # noqa: S310 (our own http URL)
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def _demo_mailbox(env: dict[str, str]) -> list[str]:
    """No EMAIL_URL: every email goes over SMTP to the demo mailbox (config/demo_mailbox.py),
    readable at /demo/mailbox/, instead of the log."""
    port = free_port()
    env["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    env["DEMO_MAILBOX_DIR"] = str(VAR / "mailbox")
    return [
        sys.executable,
        "-m",
        "config.demo_mailbox",
        "--dir",
        env["DEMO_MAILBOX_DIR"],
        "--port",
        str(port),
    ]


def _local_stripe(env: dict[str, str], port: str) -> list[str]:
    """No STRIPE_SECRET_KEY: a local Stripe-speaking server (devstripe) with a hosted
    checkout page, whose payments reach the app as signed webhooks, so the demo takes gifts.
    A SEPA debit made there clears (or, with Fail, bounces) DEMO_SEPA_SETTLE_SECONDS later."""
    settle_after = env.get("DEMO_SEPA_SETTLE_SECONDS", "5")
    if not settle_after.isdigit() or int(settle_after) > 3600:
        raise SystemExit("DEMO_SEPA_SETTLE_SECONDS: whole seconds, 0 to 3600")
    # The same port every run when free (stripe-mock's): the account it keeps in var/ holds
    # checkout links with its address in them.
    stripe_port = free_port(12111)
    secret = "whsec_demo_" + secrets.token_hex(16)
    env["STRIPE_API_BASE"] = f"http://127.0.0.1:{stripe_port}"
    env["STRIPE_SECRET_KEY"] = "sk_test_local_demo"  # noqa: S105 - the local server takes any key
    env["STRIPE_WEBHOOK_SECRET"] = secret
    webhook = f"http://127.0.0.1:{port}/stripe/webhook/"
    return [
        sys.executable,
        "-m",
        "devstripe",
        "--port",
        str(stripe_port),
        "--webhook",
        webhook,
        "--secret",
        secret,
        "--settle-after",
        settle_after,
        "--state-file",
        str(STRIPE_STATE),
    ]


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _readers_skipped(env: dict[str, str], processes: Mapping[str, object]) -> str | None:
    """Why the demo's example.org readers are not seeded (None: they are): their sign-ups,
    mailing and thank-yous must land in the demo mailbox, never in a real server or ESP.
    The seed commands refuse too (mailing/demo_guard.py); this says it in one line instead."""
    if "mailbox" not in processes:
        return "EMAIL_URL is set, so their emails would go out for real (no demo mailbox)"
    if env.get("MAILING_TRANSPORT", "smtp") != "smtp":
        return "MAILING_TRANSPORT sends marketing mail through an ESP, for real"
    return None


def _seed_mailing(env: dict[str, str], processes: Mapping[str, object]) -> None:
    """The demo's sequences and segments always; its readers only into the demo mailbox."""
    skipped = _readers_skipped(env, processes)
    if skipped:
        _say(f"demo readers skipped: {skipped}")
        _manage(env, "seed_demo_mailing", "--without-readers")
    else:
        _manage(env, "seed_demo_mailing")


def _seed_traffic(env: dict[str, str], children: dict[str, subprocess.Popen[bytes]]) -> None:
    """Months of gifts through the local Stripe, and readers acting on the demo mailing, booked
    by the site and the worker just started (so once /healthz answers); the seed commands add
    nothing on a second run. The demo runs without them if a step fails."""
    steps = ["seed_demo_gifts"] if "stripe" in children else []
    if "stripe" in children and not _readers_skipped(env, children):
        steps.append("seed_demo_readers")
    for step in steps:
        try:
            _manage(env, step)
        except subprocess.CalledProcessError:
            _say(f"{step} failed; the site runs without its data (output above)")
            return
    if steps:
        _say("demo data ready: gifts, payouts and the mailing's results are in the back office")


def _processes(port: str) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [
            python,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--access-logfile",
            "-",
        ],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "--loglevel",
            "INFO",
            "-Q",
            "webhooks,mail,exports,default",
            "--concurrency",
            "2",
        ],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "worker",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(VAR / "celerybeat-schedule"),
        ],
    }


def main() -> int:
    started = time.monotonic()
    VAR.mkdir(exist_ok=True)
    env = dict(os.environ)
    port = env.get("PORT", "8000")
    env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    env.setdefault("LOG_FORMAT", "console")
    servers = _embedded_servers(env)
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def shutdown(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    exit_code = 0
    try:
        _manage(env, "migrate", "--noinput", "-v", "0")
        if not env.get("STRIPE_SECRET_KEY"):
            # Before seed_demo adds anything: is this database new?
            _manage(env, "seed_demo_gifts", "--forget-stale-stripe", str(STRIPE_STATE))
        _manage(env, "collectstatic", "--noinput", "-v", "0")
        _manage(env, "seed_demo")
        # Seeded before the mail servers start (the readers' emails wait in the outbox), so
        # it is told whether the demo mailbox will be there.
        _seed_mailing(env, {} if env.get("EMAIL_URL") else {"mailbox": None})
        processes = _processes(port)
        if not env.get("EMAIL_URL"):
            processes = {"mailbox": _demo_mailbox(env), **processes}
        if not env.get("STRIPE_SECRET_KEY"):
            processes = {"stripe": _local_stripe(env, port), **processes}
        for name, command in processes.items():
            # Own session: a Ctrl-C reaches only us, and we stop the children in order.
            children[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        if _wait_until_healthy(f"http://127.0.0.1:{port}", children):
            # Before "serving": the seed turns the local Stripe's clock back while it works, so
            # a visitor's gift in the meantime would be dated months ago.
            _seed_traffic(env, children)
            if "mailbox" in children:
                _say(f"demo mailbox (every email the demo sends): {env['SITE_URL']}/demo/mailbox/")
            if "stripe" in children:
                _say(f"gifts go to a local Stripe checkout at {env['STRIPE_API_BASE']} (test only)")
            _say(
                f"serving {env['SITE_URL']} (ready in {time.monotonic() - started:.1f} s); "
                "Ctrl-C stops everything"
            )
        else:
            _say("the site did not answer /healthz; see the processes' output above")
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    _say(f"{name} exited with {child.returncode}; stopping everything")
                    exit_code, stopping = 1, True
            time.sleep(0.5)
    except subprocess.CalledProcessError as exc:
        _say(f"start-up step failed: {' '.join(map(str, exc.cmd))}")
        exit_code = 1
    finally:
        _say("stopping")
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(40)
            except subprocess.TimeoutExpired:
                child.kill()
        stop_all(servers)
        _say("stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
