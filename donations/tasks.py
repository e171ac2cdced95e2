"""Thin task adapters: ids in, services do the work; retries live here."""

from typing import Any

from celery import Task, shared_task

from donations import inbox, notices, reconcile, statements
from worker.retry import CONNECTION_LOST, RETRY_ON_CONNECTION_LOST


@shared_task(name="donations.tasks.inbox_drain", ignore_result=True)
def inbox_drain_task() -> int:
    return inbox.inbox_drain()


@shared_task(name="donations.tasks.notices_send", ignore_result=True, **RETRY_ON_CONNECTION_LOST)
def notices_send_task() -> int:
    return notices.notices_send()


@shared_task(name="donations.tasks.reconcile_stripe", ignore_result=True)
def reconcile_stripe_task() -> int:
    return reconcile.reconcile_stripe()


class _StatementTask(Task):
    """A statement task that gives up stops its run, so the year can be started again."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        statements.statement_run_failed(run_id=int(args[0]), error=f"{type(exc).__name__}: {exc}")


@shared_task(
    name="donations.tasks.statement_run_prepare",
    base=_StatementTask,
    ignore_result=True,
    **RETRY_ON_CONNECTION_LOST,
)
def statement_run_prepare_task(run_id: int) -> int:
    return len(statements.statement_run_prepare(run_id=run_id))


@shared_task(
    name="donations.tasks.statement_batch_send",
    base=_StatementTask,
    autoretry_for=(OSError, *CONNECTION_LOST),
    retry_backoff=10,
    max_retries=10,
    ignore_result=True,
)
def statement_batch_send_task(run_id: int, statement_ids: list[int]) -> int:
    return statements.statement_batch_send(run_id=run_id, statement_ids=statement_ids)
