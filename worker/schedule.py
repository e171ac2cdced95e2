"""Every periodic task, in one place, with when and why. Each one is idempotent."""

from celery import Celery
from celery.schedules import crontab
from django.conf import settings

from worker.heartbeat import HEARTBEAT_SECONDS
from worker.routing import QUEUES


def configure(app: Celery) -> None:
    app.conf.beat_schedule = {
        # Publishes tasks whose on-commit publish failed (Redis down at commit, process died
        # right after commit). Often, because a lost task is a lost thank-you or webhook.
        "outbox-relay": {
            "task": "worker.tasks.outbox_relay",
            "schedule": float(settings.OUTBOX_RELAY_SECONDS),
        },
        # Applies stored Stripe events whose wake-up was lost (Redis down or flushed at
        # receipt) and failed ones whose backoff has passed. Webhooks normally wake a drain
        # at once; this is the safety net, so a short interval bounds the worst-case delay.
        "stripe-inbox-drain": {
            "task": "donations.tasks.inbox_drain",
            "schedule": 15.0,
        },
        # Sends donor notices (thank-yous, pre-debit notices) whose nudge was lost and failed
        # ones whose backoff has passed; recording a notice normally wakes a sender at once.
        "donor-notices-send": {
            "task": "donations.tasks.notices_send",
            "schedule": 30.0,
        },
        # Lists Stripe's events since the last cursor and stores any the webhook missed
        # (invariant: every succeeded payment is in the ledger after reconcile).
        "stripe-reconcile": {
            "task": "donations.tasks.reconcile_stripe",
            "schedule": 15 * 60.0,
        },
        # The mailing engine's one tick (issue #5): claims due mailings and sequence steps with
        # FOR UPDATE SKIP LOCKED, creates their ledger rows, publishes batches of ledger ids and
        # re-publishes rows whose task was lost (Redis flushed). Never Celery ETA tasks: Redis
        # re-delivers those after the visibility timeout. Every 10 s bounds a mailing's delay.
        "mailing-tick": {
            "task": "mailing.tasks.tick",
            "schedule": float(settings.MAILING_TICK_SECONDS),
        },
        # Puts ledger rows of a dead batch (killed worker, database or broker lost under it)
        # back to `queued` once their 2 s heartbeat is 45 s stale, and skips those of cancelled
        # mailings. Runs on the default queue, never behind a mailing's batches.
        "mailing-sweep": {
            "task": "mailing.tasks.sweep",
            "schedule": float(settings.MAILING_SWEEP_SECONDS),
        },
        # Deletes sign-ups never confirmed within 30 days: personal data without consent must
        # not be kept (AVG data minimisation). Daily at 03:15 Amsterdam time, a quiet hour.
        "supporters-unconfirmed-prune": {
            "task": "campaign.tasks.supporters_unconfirmed_prune",
            "schedule": crontab(hour=3, minute=15),
        },
        # Deletes finance export files past their expiry (EXPORT_FILE_HOURS): they hold donors'
        # names and emails, so they are not kept once fetched (AVG data minimisation). Hourly:
        # the download view already refuses an expired file, this frees the disk.
        "export-files-expire": {
            "task": "backoffice.tasks.export_files_expire",
            "schedule": 3600.0,
        },
        # Deletes published outbox rows after a week: they are only kept to debug incidents.
        "outbox-prune": {
            "task": "worker.tasks.outbox_prune",
            "schedule": 6 * 3600.0,
        },
    }
    # A heartbeat through every queue: the metrics endpoint tells a stopped worker pool from an
    # idle one (worker/heartbeat.py). Expires unrun, so a dead pool does not pile them up.
    for queue in QUEUES:
        app.conf.beat_schedule[f"heartbeat-{queue}"] = {
            "task": "worker.tasks.heartbeat",
            "schedule": HEARTBEAT_SECONDS,
            "args": (queue,),
            "options": {"queue": queue, "expires": HEARTBEAT_SECONDS * 2},
        }
