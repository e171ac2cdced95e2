"""Celery wiring: `celery -A worker worker` and `celery -A worker beat` find `worker.app`.

The app is imported when first asked for, not with the package: Django imports this package
as an installed app in every process, and Celery costs ~1 s of start-up that a management
command such as export_transactions never uses. Every publisher imports worker.celery_app
itself (worker.outbox, worker.wake, ...), and task modules use @shared_task.
"""

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name in {"app", "celery"}:
        from .celery_app import app

        return app
    raise AttributeError(name)
