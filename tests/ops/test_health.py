from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from config.embedded import start_redis
from tests.harness.broker import use_broker

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_everything_answers(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "down": [],
        "checks": {"database": "ok", "redis": "ok", "broker": "ok"},
    }


def test_healthz_names_redis_and_broker_when_redis_is_down(
    client: Client, settings: Any, private_redis: Any
) -> None:
    settings.REDIS_URL = private_redis.url
    private_redis.stop()

    with use_broker(private_redis.url):
        response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["down"] == ["redis", "broker"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("down:")


def test_healthz_is_back_to_ok_when_redis_returns(
    client: Client, settings: Any, private_redis: Any
) -> None:
    settings.REDIS_URL = private_redis.url
    private_redis.stop()

    with use_broker(private_redis.url):
        down = client.get("/healthz")
        back = start_redis(private_redis.log.parent, port=private_redis.port, persist=False)
        try:
            up = client.get("/healthz")
        finally:
            back.stop()

    assert down.status_code == 503
    assert up.status_code == 200


def test_healthz_names_the_database_when_it_is_down(client: Client, settings: Any) -> None:
    from django.db import connections

    conn = connections["default"]
    conn.close()
    saved = dict(conn.settings_dict)
    conn.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        response = client.get("/healthz")
    finally:
        conn.close()
        conn.settings_dict.update(saved)

    assert response.status_code == 503
    assert response.json()["down"] == ["database"]
