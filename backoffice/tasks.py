"""Thin task adapters: ids in, backoffice.exports does the work. Routed to the `exports`
queue by name (worker/routing.py: *.tasks.export_*), so a long export never delays mail or
webhooks."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from backoffice import exports
from worker.retry import RETRY_ON_CONNECTION_LOST


class _ExportTask(Task):
    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # The page polling the job must stop and say why, not wait forever.
        job_id = args[0] if args else kwargs.get("job_id")
        if job_id is not None:
            exports.export_failed(int(job_id), f"{type(exc).__name__}: {exc}")


# A lost database or broker retries the run within seconds (export_run restarts a running job).
@shared_task(
    name="backoffice.tasks.export_run",
    base=_ExportTask,
    ignore_result=True,
    **RETRY_ON_CONNECTION_LOST,
)
def export_run_task(job_id: int) -> int | None:
    job = exports.export_run(job_id)
    return job.rows_done if job is not None else None


@shared_task(name="backoffice.tasks.export_files_expire", ignore_result=True)
def export_files_expire_task() -> int:
    return exports.export_files_expire()
