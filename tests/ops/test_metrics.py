"""GET /metrics: protected, and its numbers are the database's after real work."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from mailing.models import Delivery
from tests.harness.waiting import wait_until
from tests.mailing.factories import DeliveryFactory, MessageFactory
from worker.routing import QUEUES

SECRET = "whsec_test_metrics"
TOKEN = "metrics-token-for-tests-9f3c1e7a2b"


@pytest.fixture(autouse=True)
def metrics_settings(settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []


def _scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _post_event(client: Client, event_type: str) -> None:
    payload = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": {"id": f"pi_{uuid.uuid4().hex[:14]}", "object": "payment_intent"}},
        }
    )
    now = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{now}.{payload}", SECRET)
    response = client.post(
        "/stripe/webhook/",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": f"t={now},v1={signature}"},
    )
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_metrics_are_not_public(client: Client, headers: dict[str, str]) -> None:
    assert client.get("/metrics", headers=headers).status_code == 404


@pytest.mark.django_db
def test_an_allowed_address_reads_without_a_token(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_numbers_are_the_databases_after_real_work(client: Client) -> None:
    # Given: four Stripe events received by the real webhook, no worker to apply them; a
    # mailing that is sending, with rows in every state.
    for _ in range(3):
        _post_event(client, "payment_intent.succeeded")
    _post_event(client, "payment_intent.processing")
    message = MessageFactory(mailing__state="sending")
    plan = {"queued": 5, "sending": 2, "sent": 7, "failed": 1}
    for state, count in plan.items():
        DeliveryFactory.create_batch(count, message=message, state=state)
    Delivery.objects.filter(message=message, state="sent").update(sent_at=timezone.now())
    time.sleep(1.1)

    values = _scrape(client)

    assert values[("survivors_stripe_inbox_waiting", ())] == 4
    assert values[("survivors_stripe_inbox_oldest_age_seconds", ())] >= 1.0
    mailing = str(message.mailing_id)
    for state, count in plan.items():
        key = ("survivors_mailing_deliveries", (("mailing", mailing), ("state", state)))
        assert values[key] == count
    assert values[("survivors_mail_sent_last_minute", ())] == plan["sent"]
    assert values[("survivors_redis_up", ())] == 1
    # Two rows backing off because the mail server did not answer: health and metrics agree.
    from mailing.selectors import NO_REPLY

    held = list(Delivery.objects.filter(message=message, state="queued")[:2])
    Delivery.objects.filter(pk__in=[row.pk for row in held]).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5),
        last_error=f"{NO_REPLY}connection refused",
    )
    values = _scrape(client)
    owner = f"mailing {message.mailing_id}"
    assert values[("survivors_mail_held_up", (("cause", "mail server"), ("owner", owner)))] == 2
    assert {
        queue
        for (name, labels) in values
        if name == "survivors_celery_queue_length"
        for _, queue in labels
    } == set(QUEUES)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_stopped_worker_pool_shows_within_a_minute(
    client: Client, celery_worker: Any, celery_beat: Any
) -> None:
    # Given: beat and one worker on every queue; each queue's heartbeat arrives.
    worker = celery_worker()
    celery_beat()

    def fresh() -> bool:
        ages = [_heartbeat_ages(client)[queue] for queue in QUEUES]
        return all(age < 20 for age in ages)

    wait_until(fresh, timeout=40)

    # When: the worker dies.
    worker.kill()
    time.sleep(21)

    # Then: every queue's heartbeat is older than the interval beat sends it at (15 s), so the
    # alert (age > 45 s, deploy/prometheus/alerts.yml) fires within a minute of the stop.
    ages = _heartbeat_ages(client)
    assert all(ages[queue] >= 20 for queue in QUEUES), ages


def _heartbeat_ages(client: Client) -> dict[str, float]:
    return {
        dict(labels)["queue"]: value
        for (name, labels), value in _scrape(client).items()
        if name == "survivors_worker_heartbeat_age_seconds"
    }


def test_alert_rules_name_only_metrics_the_endpoint_serves() -> None:
    rules = (Path(__file__).resolve().parents[2] / "deploy/prometheus/alerts.yml").read_text()
    served = (Path(__file__).resolve().parents[2] / "config/metrics.py").read_text()
    names = set(re.findall(r"\bsurvivors_[a-z_]+", rules))
    assert names, "no rule uses our metrics"
    for name in names:
        assert f'"{name}"' in served, f"alerts.yml uses {name}, which /metrics does not serve"
