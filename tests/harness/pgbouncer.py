"""PgBouncer from Debian in transaction pooling, started as a process of our own (never the
Debian service) with its own config file on a free port, in front of the machine's PostgreSQL.

    python -m tests.harness.pgbouncer [--port 6432]   # prints the DATABASE_URL to use

Any database name is passed through (`* = ...`), so pytest-django can create and drop its test
databases through it: `DATABASE_URL=postgresql://postgres@127.0.0.1:6432/survivors_x`.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from config.embedded import free_port, port_answers


class PgBouncer:
    def __init__(
        self,
        *,
        port: int | None = None,
        server: str = "host=127.0.0.1 port=5432 user=postgres",
        pool_size: int = 20,
    ) -> None:
        # Its own folder under /tmp: PgBouncer runs as postgres (when we are root), which cannot
        # enter pytest's private tmp_path.
        self.directory = Path(tempfile.mkdtemp(prefix="sts-pgbouncer-"))
        self.port = port or free_port()
        self.server = server
        self.pool_size = pool_size
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "pgbouncer.log"

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def config(self) -> str:
        # auth_type any: the machine's PostgreSQL trusts loopback; every client logs in as the
        # user named in [databases]. server_reset_query is unused in transaction pooling.
        # server_idle_timeout is short so a dropped test database has no server connection
        # left holding it open for long.
        return f"""
[databases]
* = {self.server}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = any
admin_users = postgres
pool_mode = transaction
max_client_conn = 1000
default_pool_size = {self.pool_size}
server_idle_timeout = 10
ignore_startup_parameters = extra_float_digits
logfile = {self.log}
pidfile = {self.directory / "pgbouncer.pid"}
"""

    def start(self, timeout: float = 20) -> PgBouncer:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        conf = self.directory / "pgbouncer.ini"
        conf.write_text(self.config())
        command = [binary, str(conf)]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root: it drops to the postgres account, which must be
            # able to write its log and pid file here.
            account = pwd.getpwnam("postgres")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            command = [binary, "-u", "postgres", str(conf)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not port_answers("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"pgbouncer did not start:\n{log[-3000:]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # PgBouncer's "shut down now"
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def release_database(url: str) -> None:
    """Close every connection PgBouncer (at `url`'s address) keeps to `url`'s database, so
    PostgreSQL can drop it: an idle server connection stays open for server_idle_timeout and
    DROP DATABASE refuses while it does. RESUME lets the name take clients again."""
    import psycopg

    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/pgbouncer"))
    # The admin console speaks the simple query protocol (no parameters): quote it ourselves.
    quoted = '"' + database.replace('"', '""') + '"'
    with psycopg.connect(admin, autocommit=True) as console:
        console.execute(f"KILL {quoted}")
        console.execute(f"RESUME {quoted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    # SIGTERM too (a background job ignores Ctrl-C's SIGINT): stop PgBouncer on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    bouncer = PgBouncer(port=args.port).start()
    print(f"PgBouncer (transaction pooling): {bouncer.url('survivors')}", flush=True)
    print(f"log: {bouncer.log}; Ctrl-C stops it", flush=True)
    try:
        while bouncer.process is not None and bouncer.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        bouncer.stop()


if __name__ == "__main__":
    main()
