"""Shared parts of the fuzz suites: a client that fails any slow request, and row counts.

Slow means CPU time: the attack the security review found (a fee worked out one cent at a
time) burns the server's CPU, and CPU time is what one request costs whatever else the
shared test machine is doing, where the wall clock on two cores and eight busy test runs is
not. The test client runs the view in this process, so the process's CPU time is the view's.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Model
from django.test import Client
from hypothesis import HealthCheck, settings

REQUEST_CPU_SECONDS = 1.0

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class TimedClient(Client):
    """Django's test client (it re-raises a view's exception, so a 500 fails the test) that
    also fails a request costing a second of CPU or more."""

    def request(self, **request: Any) -> Any:
        started = time.process_time()
        response = super().request(**request)
        spent = time.process_time() - started
        assert spent < REQUEST_CPU_SECONDS, (
            f"{request.get('REQUEST_METHOD')} {request.get('PATH_INFO')} took {spent:.2f} s"
        )
        return response


def row_counts(*models: type[Model]) -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in models}
