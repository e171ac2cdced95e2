from celery import shared_task

from worker import heartbeat, outbox


@shared_task(name="worker.tasks.outbox_relay", ignore_result=True)
def outbox_relay_task() -> int:
    return outbox.outbox_relay()


@shared_task(name="worker.tasks.outbox_flush", ignore_result=True)
def outbox_flush_task() -> int:
    return outbox.outbox_flush()


@shared_task(name="worker.tasks.outbox_prune", ignore_result=True)
def outbox_prune_task() -> int:
    return outbox.outbox_prune()


@shared_task(name="worker.tasks.heartbeat", ignore_result=True)
def heartbeat_task(queue: str) -> None:
    heartbeat.heartbeat_record(queue=queue)
