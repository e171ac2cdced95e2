"""Queues and routing: each kind of work has its own queue so one cannot starve another."""

from typing import Any

from celery import Celery
from kombu import Queue

QUEUES = ("webhooks", "mail", "exports", "default")
MAIL_QUEUE = "mail"

# Checked in order, first match wins. Stripe events must not wait behind a big mailing, and a
# donor's thank-you must not wait behind a storm of webhook events.
ROUTES: list[dict[str, dict[str, Any]]] = [
    {"*.tasks.export_*": {"queue": "exports"}},
    {"donations.tasks.notices_send": {"queue": "default"}},
    # Annual statements are a batch of donor email, like a mailing.
    {"donations.tasks.statement_*": {"queue": "mail"}},
    {"donations.tasks.*": {"queue": "webhooks"}},
    # The mailing tick and sweeper are short and must not wait behind a big mailing's batches;
    # off the mail queue, an empty mail queue also means no send task is waiting (the tick
    # re-publishes rows whose task was lost only then: mailing.services.deliveries_dispatch).
    {"mailing.tasks.tick": {"queue": "default"}},
    {"mailing.tasks.sweep": {"queue": "default"}},
    {"mailing.tasks.*": {"queue": "mail"}},
]


def configure(app: Celery) -> None:
    app.conf.task_queues = [Queue(name) for name in QUEUES]
    app.conf.task_default_queue = "default"
    app.conf.task_routes = ROUTES
