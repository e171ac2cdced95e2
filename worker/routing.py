"""Queues and routing: each kind of work has its own queue so one cannot starve another."""

from celery import Celery
from kombu import Queue

QUEUES = ("webhooks", "mail", "exports", "default")

# Task name patterns -> queue. Stripe events must not wait behind a 100k-recipient mailing.
ROUTES = {
    "donations.tasks.*": {"queue": "webhooks"},
    "mailing.tasks.*": {"queue": "mail"},
    "*.tasks.export_*": {"queue": "exports"},
}


def configure(app: Celery) -> None:
    app.conf.task_queues = [Queue(name) for name in QUEUES]
    app.conf.task_default_queue = "default"
    # Most specific first: export tasks of any app go to the exports queue.
    app.conf.task_routes = [
        {"*.tasks.export_*": ROUTES["*.tasks.export_*"]},
        {k: v for k, v in ROUTES.items() if k != "*.tasks.export_*"},
    ]
