"""GET /metrics: the numbers that tell an operator the system is healthy, for Prometheus.

Every value is read from PostgreSQL (the truth) or Redis when scraped: nothing is counted in
process memory, so any web process answers for the whole system and a restart loses nothing.
A scrape costs a handful of indexed queries (the waiting rows only; the queues' partial
indexes serve them). Alert rules on these names: deploy/prometheus/alerts.yml.

Access: a bearer token (METRICS_TOKEN) or a client address in METRICS_ALLOWED_IPS; with
neither set it answers 404, so the endpoint never leaks by default.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from ipaddress import ip_address, ip_network

import redis
from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from backoffice.models import ExportJob, ExportState
from config.client_address import client_ip
from donations.models import (
    EVENT_MAX_ATTEMPTS,
    DonorNotice,
    EventStatus,
    StripeEvent,
    SyncCursor,
)
from mailing.complaints import mailing_complaint_rate
from mailing.models import Delivery, Mailing
from mailing.selectors import rows_held_up
from worker import outage
from worker.heartbeat import HEARTBEAT_KEY
from worker.models import OutboxTask
from worker.retry import DATABASE_LOST
from worker.routing import QUEUES

_RECONCILE_CURSOR = "stripe-events"  # donations.reconcile.CURSOR
_ACTIVE_MAILINGS = (Mailing.State.SENDING, Mailing.State.PAUSED)


def _age(oldest: float | None, now: float) -> float:
    return max(0.0, now - oldest) if oldest is not None else 0.0


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class SurvivorsCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        try:
            yield from self._stripe_inbox(now)
            yield from self._donor_notices(now)
            yield from self._deliveries()
            yield from self._held_up()
            yield from self._outbox(now)
            yield from self._exports()
            yield from self._reconcile()
        except DATABASE_LOST:
            pass  # PostgreSQL is down: still say what waits for it and what Redis knows
        yield from self._outages()
        yield from self._redis_side(now)

    def _outages(self) -> Iterator[GaugeMetricFamily]:
        """What the processes' latest outage warnings said waits (worker/outage.py): the one
        view of a database outage, when the tables cannot be read."""
        family = GaugeMetricFamily(
            "survivors_outage_waiting",
            "Waiting for an outside system that is down, as the latest outage warning counted it",
            labels=["down", "waiting"],
        )
        for down, waiters in outage.shared().items():
            for what, count in waiters.items():
                family.add_metric([down, what], count)
        yield family

    def _stripe_inbox(self, now: float) -> Iterator[GaugeMetricFamily]:
        waiting_q = Q(status__in=[EventStatus.RECEIVED, EventStatus.FAILED])
        row = StripeEvent.objects.filter(waiting_q).aggregate(
            waiting=Count("id", filter=Q(attempts__lt=EVENT_MAX_ATTEMPTS)),
            failing=Count("id", filter=Q(status=EventStatus.FAILED)),
            given_up=Count("id", filter=Q(attempts__gte=EVENT_MAX_ATTEMPTS)),
            oldest=Min("received_at", filter=Q(attempts__lt=EVENT_MAX_ATTEMPTS)),
        )
        oldest = row["oldest"].timestamp() if row["oldest"] else None
        yield _gauge(
            "survivors_stripe_inbox_waiting", "Stripe events not yet applied", row["waiting"]
        )
        yield _gauge(
            "survivors_stripe_inbox_oldest_age_seconds",
            "Age of the oldest Stripe event waiting: the webhook lag",
            _age(oldest, now),
        )
        yield _gauge(
            "survivors_stripe_inbox_failing",
            "Stripe events whose last attempt failed",
            row["failing"],
        )
        yield _gauge(
            "survivors_stripe_inbox_given_up",
            "Stripe events that failed every attempt and wait for staff",
            row["given_up"],
        )

    def _donor_notices(self, now: float) -> Iterator[GaugeMetricFamily]:
        row = DonorNotice.objects.filter(sent_at__isnull=True).aggregate(
            waiting=Count("id"),
            failing=Count("id", filter=Q(attempts__gt=0)),
            oldest=Min("created_at"),
        )
        oldest = row["oldest"].timestamp() if row["oldest"] else None
        yield _gauge(
            "survivors_donor_notices_waiting",
            "Thank-yous and donor notices not yet sent",
            row["waiting"],
        )
        yield _gauge(
            "survivors_donor_notices_failing",
            "Unsent donor notices with at least one failed attempt",
            row["failing"],
        )
        yield _gauge(
            "survivors_donor_notices_oldest_age_seconds",
            "Age of the oldest unsent donor notice",
            _age(oldest, now),
        )

    def _deliveries(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "survivors_mailing_deliveries",
            "Send-ledger rows of mailings that are sending or paused, by state",
            labels=["mailing", "state"],
        )
        rows = (
            Delivery.objects.filter(message__mailing__state__in=_ACTIVE_MAILINGS)
            .values_list("message__mailing_id", "state")
            .annotate(n=Count("id"))
            .order_by()
        )
        for mailing_id, state, count in rows:
            family.add_metric([str(mailing_id), state], count)
        yield family
        yield from self._complaints()
        sent = Delivery.objects.filter(state=Delivery.State.SENT, sent_at__gte=_ago(60)).count()
        yield _gauge(
            "survivors_mail_sent_last_minute", "Campaign emails sent in the last 60 s", sent
        )

    def _complaints(self) -> Iterator[GaugeMetricFamily]:
        """Spam-complaint rate of mailings sending or paused, and those stopped for it
        (mailing/complaints.py): alert on the rate before the mailbox providers do."""
        rates = GaugeMetricFamily(
            "survivors_mailing_complaint_rate",
            "Spam complaints / delivered of a mailing that is sending or paused",
            labels=["mailing"],
        )
        stopped = GaugeMetricFamily(
            "survivors_mailing_stopped_for_complaints",
            "1 for a mailing paused because its complaint rate passed the stop rate",
            labels=["mailing"],
        )
        for mailing_id, reason in Mailing.objects.filter(state__in=_ACTIVE_MAILINGS).values_list(
            "pk", "stopped_reason"
        ):
            rates.add_metric([str(mailing_id)], mailing_complaint_rate(mailing_id).rate)
            stopped.add_metric([str(mailing_id)], float(reason == Mailing.StopReason.COMPLAINTS))
        yield rates
        yield stopped

    def _held_up(self) -> Iterator[GaugeMetricFamily]:
        """What a fault holds up, as /healthz's "waiting" says it (mailing.selectors)."""
        family = GaugeMetricFamily(
            "survivors_mail_held_up",
            "Emails waiting on a fault: the mail server not answering, or a dead batch",
            labels=["cause", "owner"],
        )
        for cause, owners in rows_held_up(timezone.now()).items():
            for owner, count in owners.items():
                family.add_metric([cause, owner], count)
        yield family

    def _outbox(self, now: float) -> Iterator[GaugeMetricFamily]:
        row = OutboxTask.objects.filter(published_at__isnull=True).aggregate(
            n=Count("id"), oldest=Min("created_at")
        )
        oldest = row["oldest"].timestamp() if row["oldest"] else None
        yield _gauge("survivors_outbox_unpublished", "Tasks recorded but not published", row["n"])
        yield _gauge(
            "survivors_outbox_oldest_age_seconds",
            "Age of the oldest unpublished task",
            _age(oldest, now),
        )

    def _exports(self) -> Iterator[GaugeMetricFamily]:
        running = ExportJob.objects.filter(
            state__in=[ExportState.QUEUED, ExportState.RUNNING]
        ).count()
        yield _gauge("survivors_export_jobs_running", "Export jobs queued or running", running)

    def _reconcile(self) -> Iterator[GaugeMetricFamily]:
        cursor = SyncCursor.objects.filter(name=_RECONCILE_CURSOR).first()
        yield _gauge(
            "survivors_reconcile_last_success_timestamp_seconds",
            "When the Stripe reconcile last completed (0: never)",
            cursor.updated_at.timestamp() if cursor else 0.0,
        )

    def _redis_side(self, now: float) -> Iterator[GaugeMetricFamily]:
        """Celery queue lengths and the worker pools' heartbeats (worker/heartbeat.py)."""
        lengths = GaugeMetricFamily(
            "survivors_celery_queue_length", "Tasks waiting in a Celery queue", labels=["queue"]
        )
        beats = GaugeMetricFamily(
            "survivors_worker_heartbeat_age_seconds",
            "Seconds since a worker of this queue last ran the heartbeat task beat sends it",
            labels=["queue"],
        )
        up = 1.0
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            pipe = client.pipeline(transaction=False)
            for queue in QUEUES:
                pipe.llen(queue)
                pipe.get(HEARTBEAT_KEY.format(queue=queue))
            replies = pipe.execute()
            for index, queue in enumerate(QUEUES):
                lengths.add_metric([queue], replies[2 * index])
                last = replies[2 * index + 1]
                # Never seen (or Redis flushed): report the age as unknown-large, not zero.
                beats.add_metric([queue], now - float(last) if last else float("inf"))
        except redis.RedisError:
            up = 0.0
        finally:
            client.close()
        yield lengths
        yield beats
        yield _gauge("survivors_redis_up", "1 when the broker answered this scrape", up)


def _ago(seconds: int) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        client = ip_address(client_ip(request) or "")
    except ValueError:
        return False
    return any(client in ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_IPS)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        # 404, not 403: the endpoint does not advertise itself to the public.
        raise Http404
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SurvivorsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
