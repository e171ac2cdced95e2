"""Celery adapters: ids in, a service call, nothing else (routed by worker/routing.py)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from mailing import sending, services
from worker.retry import RETRY_ON_CONNECTION_LOST, skipped_while_down


@shared_task(name="mailing.tasks.tick", ignore_result=True)
def tick_task() -> int:
    with skipped_while_down("mailing tick"):
        return services.mailing_tick().dispatched
    return 0


@shared_task(name="mailing.tasks.sweep", ignore_result=True)
def sweep_task() -> int:
    with skipped_while_down("mailing sweep"):
        return services.deliveries_sweep(timezone.now())
    return 0


# A batch that loses PostgreSQL or the broker retries itself within seconds of its return
# (worker.retry); rows it held in flight come back through the sweeper. `owner` ("mailing 12")
# only names the batch in outage warnings, which must not need the database.
@shared_task(name="mailing.tasks.deliveries_send", ignore_result=True, **RETRY_ON_CONNECTION_LOST)
def deliveries_send_task(delivery_ids: list[int], owner: str = "") -> int:
    return sending.deliveries_send([int(i) for i in delivery_ids]).sent
