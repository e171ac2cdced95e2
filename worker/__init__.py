"""Celery wiring: `celery -A worker worker` and `celery -A worker beat` find `worker.app`."""

from .celery_app import app

__all__ = ["app"]
