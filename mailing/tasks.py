"""Celery adapters: ids in, a service call, nothing else (routed to the `mail` queue)."""

from __future__ import annotations

from celery import shared_task

from mailing import sending, services


@shared_task(name="mailing.tasks.tick", ignore_result=True)
def tick_task() -> int:
    return services.mailing_tick().dispatched


@shared_task(name="mailing.tasks.sweep", ignore_result=True)
def sweep_task() -> int:
    from django.utils import timezone

    return services.deliveries_sweep(timezone.now())


@shared_task(name="mailing.tasks.deliveries_send", ignore_result=True)
def deliveries_send_task(delivery_ids: list[int]) -> int:
    return sending.deliveries_send([int(i) for i in delivery_ids]).sent
