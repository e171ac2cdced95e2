"""Donor notices as their own queue: recorded with the gift, sent by a sender that takes every
due notice, each exactly once; a failed send is kept on the row and tried again later."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from config.embedded import free_port
from config.settings.email import mailer_from_url
from donations.models import DonorNotice, EventStatus, NoticeKind, StripeEvent
from donations.notices import BATCH_SIZE, notice_queue, notices_send
from tests.factories import DonationFactory
from tests.harness.broker import use_broker
from tests.harness.smtp import SmtpServer
from tests.harness.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _thank(count: int) -> list[Any]:
    donations = [DonationFactory() for _ in range(count)]
    with transaction.atomic():
        for donation in donations:
            assert notice_queue(kind=NoticeKind.THANKS, key=str(donation.uuid), donation=donation)
            # The same gift delivered again records nothing more.
            assert not notice_queue(
                kind=NoticeKind.THANKS, key=str(donation.uuid), donation=donation
            )
    return donations


def test_the_sender_sends_each_due_notice_once(smtp_server: SmtpServer) -> None:
    donations = _thank(3)

    assert notices_send() == 3
    assert notices_send() == 0

    recipients = sorted(m.message["To"] for m in smtp_server.wait_for(3))
    assert recipients == sorted(d.donor_email for d in donations)
    assert len(smtp_server.messages) == 3
    assert not DonorNotice.objects.filter(sent_at__isnull=True).exists()


def test_a_failed_send_is_kept_and_tried_again_after_the_backoff(
    settings: Any, smtp_server: SmtpServer
) -> None:
    [donation] = _thank(1)
    down = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    settings.MAILERS = {"default": mailer_from_url(down)}

    assert notices_send() == 0

    notice = DonorNotice.objects.get()
    assert notice.sent_at is None
    assert notice.attempts == 1
    assert "ConnectionRefusedError" in notice.last_error
    assert notice.next_attempt_at is not None
    assert notice.next_attempt_at > timezone.now() + timedelta(seconds=30)

    # The server is back, but the notice waits for its backoff...
    settings.MAILERS = {"default": mailer_from_url(smtp_server.url)}
    assert notices_send() == 0
    # ...and goes once it has passed.
    DonorNotice.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert notices_send() == 1
    assert smtp_server.wait_for(1)[0].message["To"] == donation.donor_email
    notice.refresh_from_db()
    assert notice.sent_at is not None
    assert notice.last_error == ""


def test_a_recorded_notice_wakes_a_worker_that_sends_it(
    celery_worker: Any, smtp_server: SmtpServer, live_server: Any
) -> None:
    # Through the broker, with no periodic run: the commit's nudge is what starts the sender.
    celery_worker(EMAIL_URL=smtp_server.url, SITE_URL=live_server.url)
    [donation] = _thank(1)

    wait_until(lambda: len(smtp_server.messages) == 1, timeout=60)
    assert smtp_server.messages[0].message["To"] == donation.donor_email
    wait_until(lambda: DonorNotice.objects.filter(sent_at__isnull=False).exists(), timeout=10)


def test_a_long_queue_is_handed_over_in_short_runs(
    smtp_server: SmtpServer, redis_client: Any, clean_broker: None
) -> None:
    # A sender keeps a worker process only briefly: Stripe events may be queued behind it.
    _thank(2)
    redis_client.delete("default")  # the commit's own nudge

    assert notices_send(max_seconds=0) == 0

    queued = [json.loads(m)["headers"]["task"] for m in redis_client.lrange("default", 0, -1)]
    assert queued == ["donations.tasks.notices_send"]
    assert notices_send() == 2


def test_a_sender_gives_way_to_waiting_stripe_events(
    smtp_server: SmtpServer, redis_client: Any, clean_broker: None
) -> None:
    # Money first: with Stripe events due, a sender sends one batch and hands the rest to a
    # fresh task queued behind the drains, instead of keeping its worker process for seconds.
    _thank(BATCH_SIZE + 2)
    redis_client.delete("default")  # the commit's own nudge
    event = StripeEvent.objects.create(
        stripe_id="evt_waiting", type="payment_intent.succeeded", payload={}
    )

    assert notices_send() == BATCH_SIZE

    queued = [json.loads(m)["headers"]["task"] for m in redis_client.lrange("default", 0, -1)]
    assert queued == ["donations.tasks.notices_send"]
    # Once the inbox is applied, the rest go in one run.
    StripeEvent.objects.filter(pk=event.pk).update(status=EventStatus.PROCESSED)
    assert notices_send() == 2
    assert len(smtp_server.wait_for(BATCH_SIZE + 2)) == BATCH_SIZE + 2


def test_the_sender_goes_on_when_redis_is_down(
    settings: Any, smtp_server: SmtpServer, private_redis: Any
) -> None:
    # Redis only carries the nudges: with it gone the notices still go (the periodic run
    # starts the sender), and nothing in the sender trips over the missing nudge key.
    _thank(2)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url}}
    private_redis.stop()

    with use_broker(private_redis.url):
        assert notices_send() == 2

    assert len(smtp_server.wait_for(2)) == 2
