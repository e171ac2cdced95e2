"""During an outage each process logs one warning per interval saying what is down and what
waits, not a traceback per request or task."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django import db
from django.test import Client

from worker import outage
from worker.outage import OutageLogFilter


@pytest.fixture(autouse=True)
def no_outage_yet() -> None:
    outage.recovered("database")
    outage.recovered("mail server")


def _record(error: BaseException | None, name: str = "django.request") -> logging.LogRecord:
    exc_info = (type(error), error, None) if error else None
    return logging.LogRecord(
        name, logging.ERROR, __file__, 1, "Internal Server Error", (), exc_info
    )


def _warnings(caplog: Any) -> list[dict[str, Any]]:
    return [
        r.msg
        for r in caplog.records
        if r.name == "worker.outage"
        and isinstance(r.msg, dict)
        and r.msg["event"] == "outage.waiting"
    ]


def test_a_database_outage_is_one_warning_per_interval_not_a_traceback_per_failure(
    caplog: Any,
) -> None:
    keep = OutageLogFilter()
    failures = [_record(db.OperationalError("connection refused")) for _ in range(500)]
    kept = [r for r in failures if keep.filter(r)]

    assert kept == [], "no traceback for a failure the outage explains"
    [warning] = _warnings(caplog)
    assert (warning["down"], warning["waiting"]) == ("database", {"web requests": 1})
    assert outage.current().keys() == {"database"}
    # Anything else still logs its traceback.
    assert keep.filter(_record(ValueError("a bug")))
    assert keep.filter(_record(None))


def test_the_warning_sums_what_waited_since_the_last_one(monkeypatch: Any, caplog: Any) -> None:
    monkeypatch.setattr(outage, "WARN_INTERVAL", 0.5)
    assert outage.waiting("mail server", "mailing 12", count=250)
    for _ in range(22):
        assert not outage.waiting("mail server", "mailing 12", count=250)
    time.sleep(0.6)
    assert outage.waiting("mail server", "mailing 12", count=250)

    first, second = _warnings(caplog)
    assert first["waiting"] == {"mailing 12": 250}
    assert second["waiting"] == {"mailing 12": 23 * 250}, "what waited since the first warning"
    assert second["down"] == "mail server"


@pytest.mark.django_db
def test_health_names_nothing_waiting_when_nothing_is(client: Client) -> None:
    assert "waiting" not in client.get("/healthz").json()
