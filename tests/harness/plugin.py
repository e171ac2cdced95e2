"""Loaded with `-p tests.harness.plugin` before Django reads its settings.

Chooses real servers for the whole run: DATABASE_URL / REDIS_URL when set, else the machine's
PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 when they answer, else embedded ones
started here (xdist workers inherit the controller's choice through the environment). Each xdist
worker gets its own Redis database number, so Celery queues of parallel tests never mix.

TEST_DB_POOLER=pgbouncer puts PgBouncer (transaction pooling, tests/harness/pgbouncer.py) in front
of that PostgreSQL for the whole run: DATABASE_URL points at it and DB_POOLER=pgbouncer, so every
connection (the tests', pytest-django's, Celery workers', subprocess servers') goes through it, as
in production. TEST_DB_SERVER_URL keeps PostgreSQL's own address.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis

from config.embedded import EmbeddedServer, port_answers, start_postgres, start_redis, stop_all

_started: list[EmbeddedServer] = []


def _choose_servers() -> None:
    if not os.environ.get("DATABASE_URL"):
        if port_answers("127.0.0.1", 5432):
            # A name per run (pytest-django prefixes test_, xdist adds _gwN), so two runs on
            # one machine never drop each other's database.
            name = f"survivors_{os.getpid()}"
            os.environ["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
        else:
            server = start_postgres(Path(tempfile.mkdtemp(prefix="sts-pg-")))
            _started.append(server)
            os.environ["DATABASE_URL"] = server.url
    if not os.environ.get("REDIS_URL"):
        if port_answers("127.0.0.1", 6379):
            os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        else:
            server = start_redis(Path(tempfile.mkdtemp(prefix="sts-redis-")), persist=False)
            _started.append(server)
            os.environ["REDIS_URL"] = server.url
    if _started:
        atexit.register(stop_all, _started)


def _pool_connections() -> None:
    pooler = os.environ.get("TEST_DB_POOLER", "none")
    if pooler not in ("none", "pgbouncer"):
        raise RuntimeError(f"TEST_DB_POOLER must be none or pgbouncer, not {pooler!r}")
    if pooler == "none" or os.environ.get("TEST_DB_SERVER_URL"):
        return  # no pooler, or an xdist worker: the controller started it
    from tests.harness.pgbouncer import PgBouncer

    server = urlsplit(os.environ["DATABASE_URL"])
    bouncer = PgBouncer(
        server=f"host={server.hostname} port={server.port or 5432} "
        f"user={server.username or 'postgres'}",
    ).start()
    atexit.register(bouncer.stop)
    os.environ["TEST_DB_SERVER_URL"] = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = bouncer.url(server.path.lstrip("/"))
    os.environ["DB_POOLER"] = "pgbouncer"


def _redis_db_for_this_process() -> None:
    """Lease a Redis database (1-15) of our own for this test process.

    Tests flush their database and start workers that consume its queues: two pytest runs on
    one machine must never share one. The leases live in database 0 and expire by themselves
    should a run die without releasing them.
    """
    parts = urlsplit(os.environ["REDIS_URL"])
    leases = redis.Redis.from_url(urlunsplit(parts._replace(path="/0")))
    owner = f"{os.getpid()}"
    for db in range(1, 16):
        if leases.set(f"sts-test-lease:{db}", owner, nx=True, ex=4 * 3600):
            atexit.register(_release, leases, db, owner)
            break
    else:
        raise RuntimeError("all 15 Redis test databases are leased: too many pytest runs")
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{db}"))


def _release(leases: redis.Redis, db: int, owner: str) -> None:
    key = f"sts-test-lease:{db}"
    if leases.get(key) == owner.encode():
        leases.delete(key)


_choose_servers()
_pool_connections()
_redis_db_for_this_process()
os.environ.setdefault("APP_ENV", "test")
os.environ.setdefault("LOG_FORMAT", "console")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Playwright's sync API runs an event loop in the test thread; the ORM calls in the same test
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
