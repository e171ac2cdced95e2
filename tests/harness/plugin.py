"""Loaded with `-p tests.harness.plugin` before Django reads its settings.

Chooses real servers for the whole run: DATABASE_URL / REDIS_URL when set, else the machine's
PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 when they answer, else embedded ones
started here (xdist workers inherit the controller's choice through the environment). Each xdist
worker gets its own Redis database number, so Celery queues of parallel tests never mix.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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


def _redis_db_for_this_process() -> None:
    # gw0 -> 1, gw1 -> 2, ...; a run without xdist uses 15. Database 0 stays the developer's.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    db = 1 + int(worker[2:]) % 14 if worker.startswith("gw") else 15
    parts = urlsplit(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{db}"))


_choose_servers()
_redis_db_for_this_process()
os.environ.setdefault("APP_ENV", "test")
os.environ.setdefault("LOG_FORMAT", "console")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Playwright's sync API runs an event loop in the test thread; the ORM calls in the same test
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
