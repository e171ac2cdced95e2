"""A production-shaped system, every part its own process with APP_ENV=production:

    nginx (TLS, a self-signed certificate made here) -> gunicorn (config/gunicorn.conf.py)
    PgBouncer (transaction pooling) -> PostgreSQL; Redis
    one Celery worker pool per queue and one beat, as the Procfile runs them

plus the test doubles of the outside world, in this process: the Stripe-speaking fake
(devstripe, webhooks signed and POSTed over https through nginx) and an SMTP sink
(aiosmtpd). Used by scripts/production-smoke and tests/ops/test_production_smoke.py.
"""

from __future__ import annotations

import os
import secrets
import shlex
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from config.embedded import free_port
from devstripe.server import FakeStripe
from tests.harness.pgbouncer import PgBouncer
from tests.harness.smtp import SmtpServer
from tests.harness.tls_proxy import certificate, start_nginx, stop_group

ROOT = Path(__file__).resolve().parents[2]
READY = {"worker": "ready.", "beat": "beat: Starting"}


def procfile() -> dict[str, list[str]]:
    """The Procfile's processes, as argument lists (what an operator runs)."""
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            commands[name.strip()] = shlex.split(command)
    return commands


def _dkim_key() -> Path:
    """Production signs every email: a fresh 2048-bit key per system (no DNS needed to send)."""
    key = Path(tempfile.mkdtemp(prefix="sts-dkim-")) / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    key.chmod(0o600)
    return key


def production_env(*, site_url: str, smtp_url: str, stripe: FakeStripe) -> dict[str, str]:
    """A valid production environment (tests/ops/test_settings.py's) with Stripe's test mode
    allowed, as a staging site runs: the keys are the fake's."""
    return {
        "APP_ENV": "production",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "SITE_URL": site_url,
        "ALLOWED_HOSTS": urlsplit(site_url).hostname or "",
        "EMAIL_URL": smtp_url,
        "ANYMAIL_WEBHOOK_SECRET": "esp:" + secrets.token_urlsafe(24),
        "ALLOW_STRIPE_TEST_MODE": "1",
        "STRIPE_SECRET_KEY": "sk_test_" + secrets.token_urlsafe(32),
        "STRIPE_WEBHOOK_SECRET": stripe.webhooks.secret,
        "STRIPE_API_BASE": stripe.api_base,
        "TRUSTED_PROXY_COUNT": "1",
        "CHARITY_NAME": "Stichting Save the Children Nederland",
        "CHARITY_RSIN": "123456782",
        "CHARITY_ADDRESS": "Postbus 1, 2500 AA Den Haag",
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "MAILING_POSTAL_ADDRESS": "Save the Children Nederland, Alexanderveld 5, 2585 DB Den Haag",
        "MAILING_DKIM_KEY_FILE": str(_dkim_key()),
        "DB_POOLER": "pgbouncer",
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "INFO",
    }


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class ProductionSystem:
    directory: Path
    database_url: str  # PostgreSQL itself; every process reaches it through PgBouncer
    redis_url: str
    env_overrides: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.https_port, self.http_port, self.app_port = free_port(), free_port(), free_port()
        self.site_url = f"https://127.0.0.1:{self.https_port}"
        self.cert = self.directory / "cert.pem"
        self.stripe = FakeStripe(webhook_secret="whsec_" + secrets.token_urlsafe(32))
        self.smtp = SmtpServer()
        db = urlsplit(self.database_url)
        self.bouncer = PgBouncer(
            server=f"host={db.hostname} port={db.port or 5432} user={db.username or 'postgres'}",
        )
        self.env: dict[str, str] = {}

    @property
    def tls(self) -> ssl.SSLContext:
        """A client context that verifies the site's certificate and trusts nothing else."""
        return ssl.create_default_context(cafile=str(self.cert))

    def start(self, *, migrate: bool = False) -> ProductionSystem:
        self.directory.mkdir(parents=True, exist_ok=True)
        certificate(self.directory)
        self.smtp.start()
        self.stripe.start()
        self.stripe.webhooks.ssl_context = self.tls
        self.stripe.set_webhook(f"{self.site_url}/stripe/webhook/")
        self.bouncer.start()
        database = urlsplit(self.database_url).path.lstrip("/")
        self.env = {
            **os.environ,
            **production_env(site_url=self.site_url, smtp_url=self.smtp.url, stripe=self.stripe),
            "DATABASE_URL": self.bouncer.url(database),
            "REDIS_URL": self.redis_url,
            "EXPORT_FILES_ROOT": str(self.directory / "exports"),
            **self.env_overrides,
        }
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the test run sets it; production not
        if migrate:
            self._manage("migrate", "--noinput", "-v", "0")
        self._start_processes()
        self._wait_ready()
        return self

    def _manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=300
        )

    def _start_processes(self) -> None:
        commands = procfile()
        commands["beat"] = [
            *commands["beat"][: commands["beat"].index("--schedule")],
            "--schedule",
            str(self.directory / "celerybeat-schedule"),
            "--max-interval",
            "1",
        ]
        env = {
            **self.env,
            # Two web processes of four threads: enough for this run on a small machine.
            "GUNICORN_BIND": f"127.0.0.1:{self.app_port}",
            "WEB_CONCURRENCY": self.env.get("WEB_CONCURRENCY", "2"),
        }
        for name, command in commands.items():
            program, *args = command
            if program in ("celery", "gunicorn"):
                args = [sys.executable, "-m", program, *args]
            if program == "celery":
                args += ["--loglevel", "INFO"]
            self._spawn(name, args, env)
        nginx_dir = self.directory / "nginx"
        nginx_dir.mkdir(exist_ok=True)
        (nginx_dir / "cert.pem").write_bytes(self.cert.read_bytes())
        (nginx_dir / "key.pem").write_bytes((self.directory / "key.pem").read_bytes())
        proxy = start_nginx(
            nginx_dir, https_port=self.https_port, http_port=self.http_port, app_port=self.app_port
        )
        self.processes.append(Process("nginx", proxy, nginx_dir / "error.log"))

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self.directory / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(Process(name, popen, log))

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        waiting = {p.name for p in self.processes if p.name.startswith(("worker", "beat"))}
        healthy = False
        while waiting or not healthy:
            for process in self.processes:
                if process.popen.poll() is not None:
                    raise RuntimeError(f"{process.name} exited:\n{process.output()[-4000:]}")
                kind = "beat" if process.name == "beat" else "worker"
                if process.name in waiting and READY[kind] in process.output():
                    waiting.discard(process.name)
            healthy = healthy or self._healthy()
            if time.monotonic() > deadline:
                web = next(p for p in self.processes if p.name == "web")
                raise TimeoutError(f"not ready: {waiting or 'web'}\n{web.output()[-3000:]}")
            time.sleep(0.3)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.site_url}/healthz", timeout=5, context=self.tls
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def alive(self) -> list[str]:
        """Names of the processes that exited (none while all is well)."""
        return [p.name for p in self.processes if p.popen.poll() is not None]

    def stop(self) -> None:
        # nginx first (no new requests), then web, the pools and beat.
        for process in reversed(self.processes):
            stop_group(process.popen, timeout=30)
        self.processes.clear()
        self.bouncer.stop()
        self.stripe.stop()
        self.smtp.stop()


def main() -> int:
    """scripts/production-smoke: start it all against DATABASE_URL (created and migrated when
    needed) and REDIS_URL, print where it serves, stop everything on Ctrl-C."""
    import argparse
    import signal
    import tempfile

    import psycopg

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="logs and certificate (temporary)")
    args = parser.parse_args()
    database_url = os.environ.get(
        "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/survivors_production_smoke"
    )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    name = urlsplit(database_url).path.lstrip("/")
    admin_url = urlsplit(database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    directory = args.dir or Path(tempfile.mkdtemp(prefix="sts-production-"))
    system = ProductionSystem(directory, database_url, redis_url)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    try:
        system.start(migrate=True)
        print(f"[smoke] serving {system.site_url} (certificate {system.cert})", flush=True)
        print(
            f"[smoke] ready in {time.monotonic() - started:.1f} s; logs in {directory}", flush=True
        )
        print(f"[smoke] PgBouncer {system.bouncer.url(name)} (transaction pooling)", flush=True)
        print(
            f"[smoke] fake Stripe {system.stripe.api_base}, SMTP sink {system.smtp.url}", flush=True
        )
        print(f"[smoke] GET /metrics with: Authorization: Bearer {system.env['METRICS_TOKEN']}")
        print("[smoke] Ctrl-C stops everything", flush=True)
        while not stopping:
            if exited := system.alive():
                print(f"[smoke] {', '.join(exited)} exited; stopping everything", flush=True)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        system.stop()
        print("[smoke] stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
