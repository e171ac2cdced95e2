"""Recovery of the send ledger, run in this process against real SMTP servers, PostgreSQL and
Redis: connection failures spend no attempt, the give-up rule names its reason, a cancelled
mailing keeps no row in flight, dead batches come back on a stale heartbeat and lost tasks
are re-published once no send task waits in the broker."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import redis as redis_lib
from django.db import connection
from django.test import Client
from django.utils import timezone

from campaign.models import ConsentText, Supporter
from config.embedded import free_port
from config.settings.email import mailer_from_url
from mailing import services
from mailing.models import Delivery, Mailing
from mailing.sending import deliveries_send
from tests.harness.waiting import wait_until
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import MailingFactory
from tests.mailing.sink import SinkProcess

pytestmark = pytest.mark.django_db


def _fanned_out_mailing() -> tuple[Mailing, list[int]]:
    mailing = services.mailing_schedule(mailing_id=MailingFactory().pk, send_at=timezone.now())
    services.mailings_fan_out(timezone.now())
    ids = list(
        Delivery.objects.filter(message__mailing=mailing)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return mailing, ids


def _send_tasks(redis_client: redis_lib.Redis, *, first_tries: bool) -> int:
    """Send tasks waiting in the broker: at the first-try priority, or at the top one."""
    key = f"mail\x06\x16{services.FIRST_TRY_PRIORITY}" if first_tries else "mail"
    return int(redis_client.llen(key))


def _make_due(ids: list[int]) -> None:
    """Time passes: every backoff has run out (the clock moved by moving the due time)."""
    Delivery.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now())


def test_refused_connections_spend_no_attempt_and_451s_give_up_naming_the_reason(
    consent_text: ConsentText, settings: Any, tmp_path: Any, client: Client
) -> None:
    settings.MAILING_MAX_ATTEMPTS = 6
    ids = supporters_bulk(3, text=consent_text)
    emails = dict(Supporter.objects.filter(pk__in=ids).values_list("pk", "email"))
    patient, hopeless, fine = (emails[i] for i in ids)
    mailing, rows = _fanned_out_mailing()

    # The mail server is away (nothing listens): twenty batches in a row find it so.
    settings.MAILERS = {"default": mailer_from_url(f"smtp://127.0.0.1:{free_port()}")}
    settings.MAILING_CONNECT_RETRY_SECONDS = 30
    before = timezone.now()
    first = deliveries_send(rows)
    assert (first.sent, first.released) == (0, 3)
    waiting = Delivery.objects.filter(pk__in=rows)
    assert all(d.next_attempt_at >= before + timedelta(seconds=30) for d in waiting)
    assert deliveries_send(rows).released == 0, "the rows back off before the next try"
    for _ in range(19):
        _make_due(rows)
        assert deliveries_send(rows).released == 3
    assert set(waiting.values_list("state", "attempts")) == {("queued", 0)}
    assert all(d.last_error.startswith("no reply: ") for d in waiting)
    # The health check says what waits, and for what.
    health = client.get("/healthz").json()
    assert health["waiting"] == {"mail server": {f"mailing {mailing.pk}": 3}}

    # It answers again, first with 451s: 5 then accepted, and 6 (the limit) for good.
    limit = settings.MAILING_MAX_ATTEMPTS
    sink = SinkProcess(
        tmp_path / "sink.log",
        *("--tempfail", f"{patient}:{limit - 1}", "--tempfail", f"{hopeless}:{limit}"),
    ).start()
    try:
        settings.MAILERS = {"default": mailer_from_url(sink.url)}
        for _ in range(limit + 2):
            _make_due(rows)
            deliveries_send(rows)
        received = sorted(address for address, _ in sink.lines())
    finally:
        sink.stop()

    assert received == sorted([patient, fine])
    by_email = {d.supporter.email: d for d in Delivery.objects.select_related("supporter")}
    assert (by_email[fine].state, by_email[fine].attempts) == ("sent", 1)
    assert (by_email[patient].state, by_email[patient].attempts) == ("sent", limit)
    given_up = by_email[hopeless]
    assert (given_up.state, given_up.reason, given_up.attempts) == ("failed", "gave_up", limit)
    assert given_up.last_error == (
        f"gave up after {limit} temporary failures, the last: 451 4.3.0 try again later"
    )


def test_a_cancelled_mailing_keeps_no_row_queued_or_sending(consent_text: ConsentText) -> None:
    supporters_bulk(6, text=consent_text)
    mailing, rows = _fanned_out_mailing()
    now = timezone.now()
    # Rows 0-2 were held by a batch whose worker was killed a minute ago (a stale claim); row 3
    # by a batch still running (its claim renewed a second ago); 4-5 wait in the queue.
    dead, live, waiting = rows[:3], rows[3], rows[4:]
    Delivery.objects.filter(pk__in=dead).update(
        state="sending", claimed_at=now - timedelta(minutes=1)
    )
    Delivery.objects.filter(pk=live).update(state="sending", claimed_at=now - timedelta(seconds=1))

    services.mailing_cancel(mailing_id=mailing.pk)
    assert services.deliveries_sweep(timezone.now()) == 0

    states = dict(Delivery.objects.values_list("pk", "state"))
    assert [states[pk] for pk in dead + waiting] == ["skipped"] * 5
    assert states[live] == "sending", "a live batch's row is its own"
    # The live batch lost its mail server and put its row back: the next sweep skips it.
    Delivery.objects.filter(pk=live).update(state="queued", claimed_at=None)
    services.deliveries_sweep(timezone.now())
    assert set(Delivery.objects.values_list("state", "reason")) == {("skipped", "cancelled")}


def test_dead_batches_come_back_on_a_stale_heartbeat_and_repeat_offenders_fail(
    consent_text: ConsentText, settings: Any, redis_client: redis_lib.Redis, clean_broker: None
) -> None:
    settings.MAILING_SENDING_TIMEOUT_SECONDS = 45  # the default
    settings.MAILING_MAX_ORPHANED = 5  # the default
    supporters_bulk(4, text=consent_text)
    mailing, rows = _fanned_out_mailing()
    now = timezone.now()
    alive, dead, dead_too, poison = rows
    Delivery.objects.filter(pk=alive).update(
        state="sending", claimed_at=now - timedelta(seconds=30)
    )
    Delivery.objects.filter(pk__in=[dead, dead_too]).update(
        state="sending", claimed_at=now - timedelta(seconds=50)
    )
    Delivery.objects.filter(pk=poison).update(
        state="sending", claimed_at=now - timedelta(seconds=50), orphaned=4
    )
    services.mailing_pause(mailing_id=mailing.pk)

    assert services.deliveries_sweep(now) == 2

    after = {d.pk: d for d in Delivery.objects.all()}
    assert after[alive].state == "sending"
    assert [(after[pk].state, after[pk].orphaned) for pk in (dead, dead_too)] == [
        ("queued", 1),
        ("queued", 1),
    ]
    assert (after[poison].state, after[poison].reason, after[poison].orphaned) == (
        "failed",
        "worker_lost",
        5,
    )
    assert after[poison].last_error == "its batch died 5 times while sending it"
    assert after[dead].attempts == 0, "a dead batch's rows spend no attempt"
    # Paused, they wait; resumed, they are published again.
    assert services.deliveries_dispatch(timezone.now()) == 0
    services.mailing_resume(mailing_id=mailing.pk)
    assert services.deliveries_dispatch(timezone.now()) == 2
    # Ahead of any first tries waiting in the broker.
    assert _send_tasks(redis_client, first_tries=False) == 1
    assert _send_tasks(redis_client, first_tries=True) == 0


def test_lost_send_tasks_are_republished_once_no_send_task_waits(
    consent_text: ConsentText, settings: Any, redis_client: redis_lib.Redis, clean_broker: None
) -> None:
    settings.MAILING_REDISPATCH_SECONDS = 30  # the default
    supporters_bulk(3, text=consent_text)
    _fanned_out_mailing()
    assert services.deliveries_dispatch(timezone.now()) == 3
    assert _send_tasks(redis_client, first_tries=True) == 1

    # 40 s later the rows are still queued, but their task still waits in the broker.
    later = timezone.now() + timedelta(seconds=40)
    assert services.deliveries_dispatch(later) == 0

    # Redis loses it (flushed, or restarted empty): the next tick publishes the rows again.
    redis_client.flushdb()
    assert services.deliveries_dispatch(later) == 3
    assert _send_tasks(redis_client, first_tries=True) == 1
    # Published just now: not again before their time is up, even with the queue empty.
    redis_client.flushdb()
    assert services.deliveries_dispatch(later + timedelta(seconds=20)) == 0
    assert services.deliveries_dispatch(later + timedelta(seconds=31)) == 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_stalled_past_the_timeout_stops_when_the_sweeper_took_its_rows(
    consent_text: ConsentText, settings: Any, sink: SinkProcess, redis_client: redis_lib.Redis
) -> None:
    settings.MAILERS = {"default": mailer_from_url(sink.url)}  # pipelining, as in production
    # One message per 5 s (a rate limit): between two letters the batch stalls for 5 s, longer
    # than this sweeper's timeout of 1 s, so the sweeper takes its rows back meanwhile.
    redis_client.flushdb()
    settings.MAILING_RATE_PER_SECOND = 0.2
    settings.MAILING_RATE_BURST = 1
    settings.MAILING_SENDING_TIMEOUT_SECONDS = 1
    supporters_bulk(6, text=consent_text)
    _mailing, rows = _fanned_out_mailing()
    outcome: list[Any] = []

    def send_batch() -> None:
        try:
            outcome.append(deliveries_send(rows))
        finally:
            connection.close()  # this thread's own

    batch = threading.Thread(target=send_batch)
    batch.start()
    try:
        wait_until(lambda: sink.lines(), timeout=30, interval=0.05)
        time.sleep(1.5)
        taken = services.deliveries_sweep(timezone.now())
    finally:
        batch.join(timeout=60)
    assert not batch.is_alive()

    assert taken == 6, "the sweeper took every row it held, the first one still unmarked"
    # The batch renewed its claim before the next content and found the rows gone: it stopped.
    # The one message that went out is marked sent all the same, so it is never sent again.
    delivered = [address for address, _ in sink.lines()]
    assert len(delivered) == 1
    assert outcome[0].sent == 1
    assert Delivery.objects.get(state="sent").supporter.email == delivered[0]
    assert Delivery.objects.filter(state="queued").count() == 5


def test_each_send_task_names_its_owner_for_outage_warnings(
    consent_text: ConsentText, redis_client: redis_lib.Redis, clean_broker: None
) -> None:
    """A batch that cannot read the database can still say whom it holds up: dispatch gives
    each batch rows of one mailing (or sequence step) and names it in the task."""
    supporters_bulk(3, text=consent_text)
    first, first_rows = _fanned_out_mailing()
    second, second_rows = _fanned_out_mailing()
    assert services.deliveries_dispatch(timezone.now()) == 6

    key = f"mail\x06\x16{services.FIRST_TRY_PRIORITY}"
    published = []
    for raw in redis_client.lrange(key, 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        (ids,), kwargs, _ = body
        published.append((sorted(ids), kwargs))
    expected = [
        (rows, {"owner": f"mailing {m.pk}"})
        for m, rows in [(first, first_rows), (second, second_rows)]
    ]
    assert sorted(published, key=str) == sorted(expected, key=str)
