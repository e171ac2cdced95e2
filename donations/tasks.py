"""Thin task adapters: ids in, services do the work; retries live here."""

from celery import shared_task

from donations import inbox, notices, reconcile


@shared_task(name="donations.tasks.inbox_drain", ignore_result=True)
def inbox_drain_task() -> int:
    return inbox.inbox_drain()


@shared_task(
    name="donations.tasks.notice_send",
    autoretry_for=(OSError,),
    retry_backoff=10,
    max_retries=10,
    ignore_result=True,
)
def notice_send_task(notice_id: int) -> bool:
    return notices.notice_send(notice_id=notice_id)


@shared_task(name="donations.tasks.reconcile_stripe", ignore_result=True)
def reconcile_stripe_task() -> int:
    return reconcile.reconcile_stripe()
