"""Real Celery worker and beat subprocesses for tests, killable with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
READY_MARKERS = {"worker": "ready.", "beat": "beat: Starting"}


def database_url_for_subprocess() -> str:
    """The URL of the database this test runs against (the test database, not the dev one)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{db['NAME']}"


def direct_database_url_for_subprocess() -> str:
    """The test database on PostgreSQL itself, past PgBouncer when the suite runs through it
    (TEST_DB_POOLER=pgbouncer): for a test about a process's own server connection."""
    server = os.environ.get("TEST_DB_SERVER_URL")
    if not server:
        return database_url_for_subprocess()
    return f"{server.rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}"


class CeleryProcess:
    def __init__(self, kind: str, log_dir: Path, env: dict[str, str], args: list[str]) -> None:
        self.kind = kind
        self.log = log_dir / f"{kind}-{uuid.uuid4().hex[:8]}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            kind,
            "--loglevel",
            "INFO",
            *args,
        ]
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the pool too
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> CeleryProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_MARKERS[self.kind] in self.output():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"celery {self.kind} exited:\n{self.output()[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"celery {self.kind} not ready in {timeout}s:\n{self.output()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: main process and pool children die at once."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log_file.close()


def celery_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url_for_subprocess(),
        REDIS_URL=settings.REDIS_URL,
        LOG_FORMAT="console",
        LOG_LEVEL="INFO",
        # Short sweeps so a killed worker's message comes back within seconds in tests.
        CELERY_UNACKED_RESTORE_INTERVAL="1",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
    )
    env.update(overrides)
    return env


def start_worker(log_dir: Path, *, concurrency: int = 1, **env: str) -> CeleryProcess:
    args = [
        "-Q",
        "webhooks,mail,exports,default",
        "--concurrency",
        str(concurrency),
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "-n",
        f"test-{uuid.uuid4().hex[:8]}@%h",
        "--include",
        "tests.worker_tasks",
    ]
    return CeleryProcess("worker", log_dir, celery_env(**env), args).wait_ready()


def start_beat(log_dir: Path, **env: str) -> CeleryProcess:
    schedule = log_dir / f"beat-schedule-{uuid.uuid4().hex[:8]}"
    args = ["--schedule", str(schedule), "--max-interval", "1"]
    return CeleryProcess("beat", log_dir, celery_env(**env), args).wait_ready()
