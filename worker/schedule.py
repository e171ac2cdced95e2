"""Every periodic task, in one place, with when and why. Each one is idempotent."""

from celery import Celery
from django.conf import settings


def configure(app: Celery) -> None:
    app.conf.beat_schedule = {
        # Publishes tasks whose on-commit publish failed (Redis down at commit, process died
        # right after commit). Often, because a lost task is a lost thank-you or webhook.
        "outbox-relay": {
            "task": "worker.tasks.outbox_relay",
            "schedule": float(settings.OUTBOX_RELAY_SECONDS),
        },
        # Deletes published outbox rows after a week: they are only kept to debug incidents.
        "outbox-prune": {
            "task": "worker.tasks.outbox_prune",
            "schedule": 6 * 3600.0,
        },
    }
