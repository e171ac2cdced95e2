"""GET /healthz: database, Redis and the Celery broker, each checked for real."""

from __future__ import annotations

from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from worker import outage
from worker.celery_app import app as celery_app


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "redis": _check_redis,
    "broker": _check_broker,
}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
            outage.recovered(name)  # this process's outage warnings end when it answers
        except Exception as exc:  # noqa: BLE001 - any failure means "down", with its reason
            results[name] = f"down: {type(exc).__name__}"
    down = [name for name, state in results.items() if state != "ok"]
    status = 503 if down else 200
    body: dict[str, object] = {"status": "down" if down else "ok", "down": down, "checks": results}
    # What a fault holds up, e.g. {"mail server": {"mailing 12": 5750}}: from the send ledger,
    # or with PostgreSQL down from the processes' latest outage warnings (worker.outage).
    waiting = _held_up() if "database" not in down else _waiting_for_database()
    if waiting:
        body["waiting"] = waiting
    return JsonResponse(body, status=status)


def _waiting_for_database() -> dict[str, dict[str, int]]:
    found = outage.shared().get("database")
    return {"database": found} if found else {}


def _held_up() -> dict[str, dict[str, int]]:
    """Rows backing off because the mail server did not answer, and rows of dead batches, per
    mailing or sequence step: what the worker's outage warnings say too (worker.outage)."""
    from django.utils import timezone

    from mailing.selectors import rows_held_up

    try:
        return rows_held_up(timezone.now())
    except Exception:  # noqa: BLE001 - the health check itself must answer
        return {}
