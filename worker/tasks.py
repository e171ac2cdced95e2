from celery import shared_task

from worker import outbox


@shared_task(name="worker.tasks.outbox_relay", ignore_result=True)
def outbox_relay_task() -> int:
    return outbox.outbox_relay()


@shared_task(name="worker.tasks.outbox_prune", ignore_result=True)
def outbox_prune_task() -> int:
    return outbox.outbox_prune()
