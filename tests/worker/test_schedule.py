"""The periodic schedule names only tasks that exist, on queues that exist."""

from __future__ import annotations

from worker.celery_app import app
from worker.routing import QUEUES


def test_every_periodic_task_is_a_registered_task_routed_to_a_known_queue() -> None:
    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks

    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, f"{name}: no task {entry['task']}"
        route = app.amqp.router.route({}, entry["task"])
        assert route["queue"].name in QUEUES, f"{name}: routed to {route['queue'].name}"
