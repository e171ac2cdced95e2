"""The mailing engine with real worker and beat processes, real Redis and a real SMTP sink:
sequences, send-time unsubscribe, SIGKILL mid-send, Redis flushed mid-send, two beats. The
recovery timers are production's (tests/mailing/faults.py); more faults in test_faults.py."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis as redis_lib
from django.db import connection
from django.utils import timezone

from campaign.events import donation_succeeded, supporter_confirmed
from campaign.models import ConsentText, Supporter
from config.embedded import start_redis
from mailing import services
from mailing.models import Delivery, Enrollment, GiftAttribution, Message
from tests.factories import ConsentFactory
from tests.harness.waiting import wait_until
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import SequenceFactory, SequenceStepFactory
from tests.mailing.faults import (
    RECOVERY_SECONDS,
    delivered_once_each,
    due_mailing,
    fault_env,
    longest_pause_after,
    mailing_state,
    report,
)
from tests.mailing.sink import SinkProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _fast_env(sink: SinkProcess) -> dict[str, str]:
    """For the tests that are not about faults: production's timers but a 1 s tick, so that
    sequence steps and mailings start at once."""
    return fault_env(sink, MAILING_TICK_SECONDS="1")


def _database_clock() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def _assert_all_delivered(sink: SinkProcess, addresses: set[str], *, max_duplicates: int) -> None:
    repeats = delivered_once_each(sink, addresses)
    repeated = [a for a, n in Counter(a for a, _ in sink.lines()).items() if n > 1]
    rows = Delivery.objects.filter(supporter__email__in=repeated)
    assert repeats <= max_duplicates, f"{repeats} repeats: {list(rows.values())}"
    assert not Delivery.objects.filter(state__in=["queued", "sending"]).exists()


def test_sequence_step_1_at_once_step_2_when_due_and_a_gift_stops_step_3(
    celery_worker: Any, celery_beat: Any, sink: SinkProcess
) -> None:
    sequence = SequenceFactory()
    steps = [
        SequenceStepFactory(sequence=sequence, position=n, delay=timedelta(days=0 if n == 1 else 3))
        for n in (1, 2, 3)
    ]
    supporter = ConsentFactory().supporter
    celery_worker(**_fast_env(sink))
    celery_beat(**_fast_env(sink))

    # A confirmed sign-up: step 1 goes out at once.
    supporter_confirmed.send(
        sender=Supporter, supporter_id=supporter.pk, topics=["stories"], first_time=True
    )
    wait_until(lambda: len(sink.lines()) == 1, timeout=20)
    enrollment = Enrollment.objects.get()
    assert enrollment.next_position == 2
    assert enrollment.due_at > timezone.now() + timedelta(days=2)

    # Move the clock by moving the due time: step 2 is sent.
    Enrollment.objects.filter(pk=enrollment.pk).update(due_at=timezone.now())
    wait_until(lambda: len(sink.lines()) == 2, timeout=20)
    step_2 = Delivery.objects.get(message__step=steps[1])

    # A gift, brought by the step-2 email, before step 3 falls due.
    donation_succeeded.send(
        sender=None,
        donation_id=4242,
        supporter_id=supporter.pk,
        source_token=services.source_token(step_2.pk),
        first_gift=True,
        frequency="one_off",
        amount=2500,
        currency="eur",
    )
    enrollment.refresh_from_db()
    assert enrollment.exit_reason == "gift"
    gift = GiftAttribution.objects.get(donation_id=4242)
    assert (gift.delivery_id, gift.message_id) == (step_2.pk, step_2.message_id)
    Enrollment.objects.filter(pk=enrollment.pk).update(due_at=timezone.now())
    time.sleep(3)  # three ticks: nothing may happen, so there is nothing to wait for
    assert len(sink.lines()) == 2
    assert not Delivery.objects.filter(message__step=steps[2]).exists()


def test_unsubscribe_between_ledger_creation_and_sending_skips_the_row(
    celery_worker: Any, celery_beat: Any, sink: SinkProcess
) -> None:
    from campaign.services import supporter_unsubscribe

    consent = ConsentFactory()
    mailing = due_mailing()
    services.mailing_tick()  # publishes a send task; the worker below only starts later
    assert Delivery.objects.get().state == "queued"

    supporter_unsubscribe(supporter_id=consent.supporter_id, method="one_click", actor="supporter")
    # Rows published long ago count as lost: the worker's tick publishes them at once.
    Delivery.objects.update(dispatched_at=timezone.now() - timedelta(hours=1))
    celery_worker(**_fast_env(sink))
    celery_beat(**_fast_env(sink))

    wait_until(lambda: mailing_state(mailing) == "finished", timeout=30)
    row = Delivery.objects.get()
    assert (row.state, row.reason) == ("skipped", "no_consent")
    assert sink.lines() == []


@pytest.mark.timeout(900)  # 20,000 messages and six worker starts on a busy CI machine
def test_kill_worker_five_times_mid_send_loses_nothing(
    celery_worker: Any, celery_beat: Any, sink: SinkProcess, consent_text: ConsentText
) -> None:
    total = 20_000
    ids = supporters_bulk(total, text=consent_text)
    addresses = set(Supporter.objects.filter(pk__in=ids).values_list("email", flat=True))
    env = fault_env(sink)
    # One pool process: a kill interrupts exactly one message in flight.
    worker = celery_worker(concurrency=1, **env)
    celery_beat(**env)
    mailing = due_mailing()

    # A row held by a killed batch -> when a worker was back after its (last) kill: the fault
    # ends there (starting a worker takes 10-60 s on a busy machine).
    back_at: dict[int, datetime] = {}
    for kill in range(1, 6):
        wait_until(lambda k=kill: len(sink.lines()) >= total * k // 7, timeout=120, interval=0.05)
        worker.kill()
        held = list(Delivery.objects.filter(state="sending").values_list("id", flat=True))
        worker = celery_worker(concurrency=1, **env)
        back_at.update(dict.fromkeys(held, _database_clock()))

    wait_until(lambda: mailing_state(mailing) == "finished", timeout=240, interval=0.5)
    _assert_all_delivered(sink, addresses, max_duplicates=5)
    assert Delivery.objects.filter(state="sent").count() == total
    # The rows a killed worker held were sent within 90 s of a worker being back: their claim
    # went stale, and they went ahead of the rest of the mailing waiting in the broker.
    assert back_at, "each kill interrupted a batch"
    sent_at = dict(Delivery.objects.filter(pk__in=back_at).values_list("id", "sent_at"))
    slowest = max((sent_at[pk] - at).total_seconds() for pk, at in back_at.items())
    print(  # a measurement, read by a person (pytest -rP)
        f"MEASURED five SIGKILLs: {delivered_once_each(sink, addresses)} repeats; rows of "
        f"killed batches sent at most {slowest:.1f} s after a worker was back"
    )
    assert slowest <= RECOVERY_SECONDS, f"rows of a killed batch sent {slowest:.0f} s later"


@pytest.mark.timeout(900)  # 20,000 messages on a busy CI machine
def test_redis_flushed_and_restarted_mid_send_still_completes(
    celery_worker: Any,
    celery_beat: Any,
    sink: SinkProcess,
    consent_text: ConsentText,
    private_redis: Any,
    tmp_path: Any,
) -> None:
    total = 20_000
    ids = supporters_bulk(total, text=consent_text)
    addresses = set(Supporter.objects.filter(pk__in=ids).values_list("email", flat=True))
    env = fault_env(sink, REDIS_URL=private_redis.url)
    celery_worker(**env)
    celery_beat(**env)
    mailing = due_mailing()

    wait_until(lambda: len(sink.lines()) >= 2000, timeout=120, interval=0.05)
    client = redis_lib.Redis.from_url(private_redis.url)
    client.flushall()
    client.close()
    private_redis.stop()
    seen = len(sink.lines())
    restarted = start_redis(tmp_path / "redis-again", port=private_redis.port, persist=False)
    back = time.time()
    try:
        assert seen < total
        wait_until(lambda: mailing_state(mailing) == "finished", timeout=600, interval=0.5)
        report("Redis flushed and restarted", sink, back, delivered_once_each(sink, addresses))
        assert longest_pause_after(sink, back) <= RECOVERY_SECONDS
        _assert_all_delivered(sink, addresses, max_duplicates=0)
    finally:
        restarted.stop()


def test_two_beats_never_send_a_mailing_twice(
    celery_worker: Any, celery_beat: Any, sink: SinkProcess, consent_text: ConsentText
) -> None:
    total = 1000
    ids = supporters_bulk(total, text=consent_text)
    addresses = set(Supporter.objects.filter(pk__in=ids).values_list("email", flat=True))
    env = _fast_env(sink)
    celery_worker(concurrency=2, **env)
    celery_beat(**env)
    celery_beat(**env)
    mailing = due_mailing()

    wait_until(lambda: mailing_state(mailing) == "finished", timeout=60, interval=0.5)
    _assert_all_delivered(sink, addresses, max_duplicates=0)
    assert Message.objects.filter(mailing=mailing).count() == 1
    assert Delivery.objects.count() == total
