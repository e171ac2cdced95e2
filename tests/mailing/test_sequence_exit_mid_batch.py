"""People who leave a sequence while a rate-limited batch of its step is sending get nothing
later than their exit plus 5 s (issue 14): the batch's heartbeat re-check also reads sequence
exits. The exits are real: gifts told through campaign's donation_succeeded event (the appeal
sequence ends on a gift, consent stays), and staff taking someone out. Real aiosmtpd server,
the batch running in a thread, as in test_unsubscribe_mid_batch."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from campaign.events import donation_succeeded
from campaign.models import ConsentText, Supporter
from mailing import services
from mailing.models import Delivery, Enrollment
from mailing.segments import SegmentFilter
from mailing.sending import deliveries_send
from tests.harness.waiting import wait_until
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import SequenceFactory, SequenceStepFactory
from tests.mailing.timed_smtp import TimedCollector

pytestmark = pytest.mark.django_db(transaction=True)

RECIPIENTS = 40
GIFTS = 3
BOUND_SECONDS = 5.0


def test_people_leaving_the_sequence_mid_batch_get_no_step_email_after_five_seconds(
    consent_text: ConsentText, timed_smtp: TimedCollector
) -> None:
    collector = timed_smtp
    ids = supporters_bulk(RECIPIENTS, text=consent_text)
    supporters = {s.email.lower(): s for s in Supporter.objects.filter(pk__in=ids)}
    sequence = SequenceFactory(trigger="manual", ends_on_gift=True)
    step = SequenceStepFactory(sequence=sequence, position=1, delay=timedelta(0))
    SequenceStepFactory(sequence=sequence, position=2, delay=timedelta(days=3))
    assert (
        services.sequence_enrol_segment(sequence_id=sequence.pk, segment=SegmentFilter())
        == RECIPIENTS
    )
    services.mailing_tick()  # step 1's ledger rows (no worker consumes the tasks)
    ledger = list(Delivery.objects.filter(message__step=step).values_list("id", flat=True))
    assert len(ledger) == RECIPIENTS

    def send() -> None:
        try:
            deliveries_send(ledger)
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    wait_until(lambda: len(collector.snapshot()) >= 5, timeout=30)
    left: dict[str, float] = {}  # address -> the moment before its exit's commit
    for n in range(GIFTS + 1):
        not_yet = sorted(set(supporters) - set(collector.snapshot()) - set(left))
        address = not_yet[len(not_yet) // 2]  # mid-queue, not the message in flight
        started = time.time()
        if n < GIFTS:  # a gift, as donations tells it after the payment succeeded
            donation_succeeded.send(
                sender=None,
                donation_id=9000 + n,
                supporter_id=supporters[address].pk,
                source_token="",
                first_gift=False,
                frequency="one_off",
                amount=2500,
                currency="eur",
            )
        else:  # staff take someone out of the sequence
            services.enrollments_exit(
                supporter_id=supporters[address].pk, reason=Enrollment.ExitReason.STAFF
            )
        left[address] = started
        time.sleep(0.7)
    sender.join(timeout=60)
    assert not sender.is_alive()

    exits = dict(
        Enrollment.objects.filter(supporter__email__in=list(left)).values_list(
            "supporter__email", "exit_reason"
        )
    )
    assert sorted(exits.values()) == ["gift", "gift", "gift", "staff"]
    received = collector.snapshot()
    late = {
        address: round(received[address] - exited, 2)
        for address, exited in left.items()
        if address in received and received[address] > exited + BOUND_SECONDS
    }
    assert not late, f"mailed after leaving the sequence + {BOUND_SECONDS}s: {late}"
    assert set(received) >= set(supporters) - set(left), "everyone else got it"
    skipped = Delivery.objects.filter(
        message__step=step, supporter__email__in=list(left), state="skipped", reason="exited"
    ).count()
    mailed = sum(1 for address in left if address in received)
    assert skipped + mailed == len(left)
    assert skipped >= 1, "the re-check, not the end of the batch, stopped them"
