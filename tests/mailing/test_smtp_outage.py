"""The mail server away for 10 minutes, in real time, with a real worker and beat at
production's timers: it refuses every connection for 10 minutes, then answers 451 to the first
recipients it is offered, then accepts. Every recipient is delivered exactly once, the refused
connections spend no attempt, nobody is given up on.

Real wall time on purpose: the issue's 10-minute case is about timers (the connection backoff,
re-dispatch, the sweeper, the retry budget) meeting an outage longer than any of them, and only
the clock shows that none of them runs out. It takes about 12 minutes, so it has an xdist group
of its own and runs alongside the rest of the suite."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from campaign.models import ConsentText, Supporter
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
)
from tests.mailing.sink import SinkProcess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.xdist_group("smtp_outage_10_minutes"),
    pytest.mark.timeout(1500),
]

TOTAL = 5_000
OUTAGE_SECONDS = 600
# When it answers again it is still recovering: "451 4.3.0 try again later" to the first
# recipients it is offered, whoever they are.
TEMPFAILED = 40


def test_ten_minutes_of_refused_connections_then_451s_deliver_everyone_once(
    celery_worker: Any,
    celery_beat: Any,
    consent_text: ConsentText,
    tmp_path: Path,
) -> None:
    ids = supporters_bulk(TOTAL, text=consent_text)
    addresses = set(Supporter.objects.filter(pk__in=ids).values_list("email", flat=True))
    # The mail server is away when the mailing starts: nothing listens on its port.
    sink = SinkProcess(tmp_path / "sink.log", "--tempfail-first", str(TEMPFAILED))
    env = fault_env(sink)
    worker = celery_worker(**env)
    celery_beat(**env)
    mailing = due_mailing()
    rows = Delivery.objects.filter(message__mailing=mailing)
    started = time.monotonic()
    try:
        # Halfway: every batch so far found the server away and spent nothing.
        time.sleep(OUTAGE_SECONDS / 2)
        assert rows.count() == TOTAL
        assert set(rows.values_list("state", "attempts")) <= {("queued", 0), ("sending", 0)}
        assert rows.filter(last_error__startswith="no reply: ").count() == TOTAL, "all were tried"

        time.sleep(OUTAGE_SECONDS - (time.monotonic() - started))
        sink.start()
        back = time.time()
        wait_until(lambda: mailing_state(mailing) == "finished", timeout=600, interval=1)
    finally:
        sink.stop()

    assert delivered_once_each(sink, addresses) == 0, "exactly once: no batch broke mid-send"
    assert not rows.exclude(state="sent").exists(), "nobody given up on"
    # Only server replies count: one 451 and the accepting reply for the first recipients,
    # the accepting reply alone for everyone else. Ten minutes of refusals spent nothing.
    attempts = list(rows.values_list("attempts", flat=True))
    assert sorted(set(attempts)) == [1, 2]
    assert sum(attempts) == TOTAL + TEMPFAILED
    assert longest_pause_after(sink, back) <= RECOVERY_SECONDS
    # The worker said what waited, per mailing and in words, not a traceback per batch.
    log = worker.output()
    assert f"mailing {mailing.pk}: {TOTAL:,} recipients waiting for SMTP" in log
    assert "Traceback" not in log
