"""Shared set-up of the fault tests (test_reliability.py, test_faults.py, test_smtp_outage.py,
tests/ops/test_database_outage_pages.py): the production timers, a due mailing, a PostgreSQL
of the test's own, recovery clocks and a sink's progress."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
from django.utils import timezone

from config.embedded import EmbeddedServer, start_postgres
from mailing import services
from mailing.models import Mailing
from tests.mailing.factories import MailingFactory
from tests.mailing.sink import SinkProcess

ROOT = Path(__file__).resolve().parents[2]

# The bound the issue sets: a mailing sends again within this long after a fault ends.
RECOVERY_SECONDS = 90.0

# The production defaults of every timer recovery depends on, spelled out so that the harness's
# test-speed values (tests/harness/processes.py: Redis restores unacknowledged tasks after 1 s)
# never reach a fault test: the tick (10 s: dispatch and re-dispatch), the sweep (10 s), a stale
# claim (45 s), re-dispatch (30 s), the connection backoff (30 s), the temporary-failure backoff
# (60 s, doubling) and the broker's restore of a killed worker's tasks (10 s).
PRODUCTION_TIMERS = {
    "MAILING_TICK_SECONDS": "10",
    "MAILING_SWEEP_SECONDS": "10",
    "MAILING_SENDING_TIMEOUT_SECONDS": "45",
    "MAILING_REDISPATCH_SECONDS": "30",
    "MAILING_CONNECT_RETRY_SECONDS": "30",
    "MAILING_RETRY_BASE_SECONDS": "60",
    "MAILING_MAX_ATTEMPTS": "6",
    "MAILING_MAX_ORPHANED": "5",
    "MAILING_BATCH_SIZE": "250",
    "CELERY_UNACKED_RESTORE_INTERVAL": "10",
    "CELERY_UNACKED_RESTORE_THROTTLE": "10",
}


def fault_env(sink: SinkProcess, **extra: str) -> dict[str, str]:
    """Worker and beat settings for a fault test: production's timers, the sink as mail server."""
    return {
        "EMAIL_URL": sink.url,
        "SITE_URL": "https://www.savethechildren.example",
        "LOG_LEVEL": "WARNING",
        **PRODUCTION_TIMERS,
        **extra,
    }


def due_mailing() -> Mailing:
    """A mailing to every supporter, scheduled for now: the next tick starts it."""
    mailing = MailingFactory()
    return services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())


def mailing_state(mailing: Mailing) -> str:
    mailing.refresh_from_db()
    return mailing.state


def longest_pause_after(sink: SinkProcess, fault_ended: float) -> float:
    """The longest the sink waited for mail after the fault ended (unix time), counting from
    then; call once the mailing has finished."""
    times = [fault_ended, *(t for t in sink.accepted_at() if t > fault_ended)]
    return max((b - a for a, b in pairwise(times)), default=0.0)


def report(fault: str, sink: SinkProcess, fault_ended: float, repeats: int) -> None:
    """Print what a fault test measured (pytest -rP shows it): the numbers DESIGN.md quotes."""
    after = [t for t in sink.accepted_at() if t > fault_ended]
    first = f"{after[0] - fault_ended:.1f} s" if after else "never"
    print(  # a measurement, read by a person
        f"MEASURED {fault}: {repeats} repeats; mail again {first} after the fault ended; "
        f"longest pause after it {longest_pause_after(sink, fault_ended):.1f} s"
    )


def delivered_once_each(sink: SinkProcess, addresses: set[str]) -> int:
    """Asserts every address got the mail and nobody else did, each repeat with the same
    Message-ID; returns the number of repeats."""
    lines = sink.lines()
    per_address = Counter(address for address, _ in lines)
    ids: dict[str, set[str]] = defaultdict(set)
    for address, message_id in lines:
        ids[address].add(message_id)
    assert set(per_address) == addresses, (
        f"missing {len(addresses - set(per_address))}, unexpected "
        f"{len(set(per_address) - addresses)}"
    )
    assert all(len(found) == 1 for found in ids.values()), "a repeat carries the same Message-ID"
    return sum(n - 1 for n in per_address.values())


class PrivatePostgres:
    """A PostgreSQL of the test's own, which it may stop and start again at the same address:
    the machine's serves other tests. Its data lives outside pytest's temporary folders, which
    every pytest session starting on the machine makes private to root again, under the feet
    of a server running as its own user."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sts-private-pg-"))
        self.directory.chmod(0o755)
        self.server: EmbeddedServer = start_postgres(self.directory / "data")
        self.url = self.server.url

    def stop(self) -> None:
        """A fast shutdown, as `pg_ctl restart` does."""
        self.server.stop(timeout=120)

    def start(self) -> None:
        self.server = start_postgres(self.directory / "data", port=self.server.port)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres()
    try:
        yield postgres
    finally:
        postgres.stop()
        shutil.rmtree(postgres.directory, ignore_errors=True)


# Its schema and data are made by subprocesses.
_SETUP = """
import django
django.setup()
from django.utils import timezone

from config.embedded import EmbeddedServer, start_postgres
from mailing import services
from tests.factories import ConsentTextFactory
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import MailingFactory
supporters_bulk({total}, text=ConsentTextFactory(topic="stories", language="nl"))
if {mailing}:
    services.mailing_schedule(mailing_id=MailingFactory().pk, send_at=timezone.now())
"""


def in_private_database(env: dict[str, str], *args: str) -> str:
    """Run `python *args` against the database env's DATABASE_URL names; returns its output."""
    from tests.harness.processes import celery_env

    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=celery_env(**env), check=True, capture_output=True
    )
    return done.stdout.decode()


def private_database_setup(env: dict[str, str], *, supporters: int, mailing: bool) -> None:
    """Migrate the private database; add consenting supporters and, if asked, a due mailing."""
    in_private_database(env, "manage.py", "migrate", "--noinput")
    in_private_database(env, "-c", _SETUP.format(total=supporters, mailing=mailing))


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=2) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
