"""Faults during a 20,000-recipient mailing, with real worker and beat processes, a counting
SMTP sink and production's recovery timers (tests/mailing/faults.py): Redis stopped for 30 s,
the mail server away for 60 s, PostgreSQL restarted. Nothing is lost, repeats stay within
invariant 5, and mail flows again within 90 s of the fault ending. (SIGKILL and FLUSHALL:
test_reliability.py; the mail server away for 10 minutes: test_smtp_outage.py.)"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from campaign.models import ConsentText, Supporter
from config.embedded import start_redis
from mailing.models import Delivery
from tests.harness.waiting import wait_until
from tests.mailing.conftest import supporters_bulk
from tests.mailing.faults import (
    RECOVERY_SECONDS,
    delivered_once_each,
    due_mailing,
    fault_env,
    longest_pause_after,
    mailing_state,
    private_database_setup,
    private_postgres,
    query,
    report,
)
from tests.mailing.sink import SinkProcess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.timeout(900),  # 20,000 messages and a 30-60 s fault on a busy CI machine
]

TOTAL = 20_000
# The fault strikes once this many went out: well into the mailing, far from its end.
STRIKE_AT = 2_000


def test_redis_stopped_for_30_s_mid_send(
    celery_worker: Any,
    celery_beat: Any,
    sink: SinkProcess,
    consent_text: ConsentText,
    private_redis: Any,
    tmp_path: Path,
) -> None:
    ids = supporters_bulk(TOTAL, text=consent_text)
    addresses = set(Supporter.objects.filter(pk__in=ids).values_list("email", flat=True))
    env = fault_env(sink, REDIS_URL=private_redis.url)
    celery_worker(**env)
    celery_beat(**env)
    mailing = due_mailing()

    wait_until(lambda: len(sink.lines()) >= STRIKE_AT, timeout=120, interval=0.05)
    private_redis.stop()
    time.sleep(30)
    seen = len(sink.lines())
    restarted = start_redis(tmp_path / "redis-again", port=private_redis.port, persist=False)
    back = time.time()
    try:
        # Redis came back empty: the send tasks it held are gone, the rows are not.
        assert seen < TOTAL
        wait_until(lambda: mailing_state(mailing) == "finished", timeout=600, interval=0.5)
    finally:
        restarted.stop()
    repeats = delivered_once_each(sink, addresses)
    report("Redis stopped for 30 s", sink, back, repeats)
    assert longest_pause_after(sink, back) <= RECOVERY_SECONDS
    # No batch broke (they do not need Redis to send): nothing may repeat.
    assert repeats == 0
    assert not Delivery.objects.exclude(state="sent").exists()


def test_mail_server_away_for_60_s_mid_send_spends_no_attempt(
    celery_worker: Any, celery_beat: Any, sink: SinkProcess, consent_text: ConsentText
) -> None:
    ids = supporters_bulk(TOTAL, text=consent_text)
    addresses = set(Supporter.objects.filter(pk__in=ids).values_list("email", flat=True))
    env = fault_env(sink)
    celery_worker(**env)
    celery_beat(**env)
    mailing = due_mailing()

    wait_until(lambda: len(sink.lines()) >= STRIKE_AT, timeout=120, interval=0.05)
    sink.stop()
    time.sleep(60)
    seen = len(sink.lines())
    sink.start()  # the same port, the same log
    back = time.time()

    assert seen < TOTAL
    wait_until(lambda: mailing_state(mailing) == "finished", timeout=600, interval=0.5)
    repeats = delivered_once_each(sink, addresses)
    report("mail server away for 60 s", sink, back, repeats)
    assert longest_pause_after(sink, back) <= RECOVERY_SECONDS
    # One worker process: one batch broke, so at most one message repeats.
    assert repeats <= 1
    rows = Delivery.objects.filter(message__mailing=mailing)
    assert set(rows.values_list("state", "attempts")) == {("sent", 1)}, "refusals spent nothing"


def _repeated_rows(url: str, sink: SinkProcess, back: float) -> str:
    """For a failure message: the repeated rows' ledger and when the sink took each copy."""
    times: dict[str, list[float]] = {}
    for (address, _), at in zip(sink.lines(), sink.accepted_at(), strict=True):
        times.setdefault(address, []).append(round(at - back, 2))
    repeated = [a for a, t in times.items() if len(t) > 1]
    rows = query(
        url,
        "SELECT s.email, d.id, d.attempts, d.orphaned, d.sent_at FROM mailing_delivery d "
        "JOIN campaign_supporter s ON s.id = d.supporter_id WHERE s.email = ANY(%s) ORDER BY d.id",
        (repeated[:20],),
    )
    return "\n".join(f"{row} copies at {times[row[0]]}" for row in rows)


def test_postgres_restarted_mid_send(
    celery_worker: Any, celery_beat: Any, sink: SinkProcess
) -> None:
    with private_postgres() as postgres:
        env = fault_env(sink, DATABASE_URL=postgres.url)
        private_database_setup(env, supporters=TOTAL, mailing=True)
        addresses = {row[0] for row in query(postgres.url, "SELECT email FROM campaign_supporter")}
        worker = celery_worker(**env)
        celery_beat(**env)

        wait_until(lambda: len(sink.lines()) >= STRIKE_AT, timeout=120, interval=0.05)
        # A fast shutdown, as `pg_ctl restart` does (given time: a crash instead may forget the
        # marks of its last moment, which commit without waiting for the disk).
        postgres.stop()
        seen = len(sink.lines())
        postgres.start()
        back = time.time()

        assert seen < TOTAL

        def finished() -> bool:
            return query(postgres.url, "SELECT state FROM mailing_mailing") == [("finished",)]

        wait_until(finished, timeout=600, interval=0.5)
        # One worker process: one batch broke, so at most one message repeats (invariant 5).
        repeats = delivered_once_each(sink, addresses)
        report("PostgreSQL restarted", sink, back, repeats)
        assert longest_pause_after(sink, back) <= RECOVERY_SECONDS
        assert repeats <= 1, _repeated_rows(postgres.url, sink, back)
        states = query(postgres.url, "SELECT state, count(*) FROM mailing_delivery GROUP BY 1")
        assert states == [("sent", TOTAL)]
        # The worker said what was down and whom it held up, and wrote no traceback for it.
        log = worker.output()
        assert "Traceback" not in log
        assert re.search(r"outage\.waiting .*down=database .*message='mailing \d+: [\d,]+ ", log)
