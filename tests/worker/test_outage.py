"""During an outage each process logs one warning per interval saying what is down and what
waits, not a traceback per request or task."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django import db
from django.db import connection, transaction
from django.test import Client

from worker import outage
from worker.outage import OutageLogFilter
from worker.retry import what_is_down


@pytest.fixture(autouse=True)
def no_outage_yet() -> Iterator[None]:
    outage.recovered("database")
    outage.recovered("mail server")
    yield
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
    assert (warning["down"], warning["waiting"], warning["count"]) == ("database", "web", 1)
    assert warning["message"] == "web: 1 requests waiting for the database"
    assert outage.current().keys() == {"database"}
    # Anything else still logs its traceback.
    assert keep.filter(_record(ValueError("a bug")))
    assert keep.filter(_record(None))


def test_each_waiter_is_named_once_per_interval_with_its_latest_count(
    monkeypatch: Any, caplog: Any
) -> None:
    monkeypatch.setattr(outage, "WARN_INTERVAL", 0.5)
    unsent = iter([5750, 5500])
    read: list[int] = []

    def mailing_12() -> int:  # what the send ledger says is left, read only when warning
        read.append(value := next(unsent))
        return value

    def wait_for_smtp() -> bool:
        return outage.waiting(
            "mail server", "mailing 12", count=mailing_12, unit="recipients", key="unsent"
        )

    assert wait_for_smtp()
    # Batch after batch finds the server away; a task of sequence step 3 is retried too, and
    # two API requests are answered 503 by the web server: all waiting for the same outage.
    for _ in range(22):
        assert not wait_for_smtp()
    for _ in range(4):
        outage.waiting("mail server", "sequence step 3", count=250, unit="recipients", key="t1")
    outage.waiting("mail server", "API", error="refused")
    outage.waiting("mail server", "API", error="refused")
    assert read == [5750], "counted only when a warning is due"
    time.sleep(0.6)
    assert wait_for_smtp()

    messages = [w["message"] for w in _warnings(caplog)]
    assert messages == [
        "mailing 12: 5,750 recipients waiting for SMTP",
        "mailing 12: 5,500 recipients waiting for SMTP",
        "sequence step 3: 250 recipients waiting for SMTP",
        "API: 2 requests waiting for SMTP",
    ]
    assert {w["down"] for w in _warnings(caplog)} == {"mail server"}


@pytest.mark.django_db
def test_metrics_say_what_the_latest_warning_said_waits(client: Client, settings: Any) -> None:
    outage.waiting("database", "mailing 12", count=250, unit="recipients", key="task-1")
    try:
        assert outage.shared() == {"database": {"mailing 12": 250}}
        # What the web server shows comes from Redis: it has no database to ask.
        settings.METRICS_TOKEN = "t" * 40
        scrape = client.get("/metrics", headers={"Authorization": f"Bearer {'t' * 40}"})
        assert (
            'survivors_outage_waiting{down="database",waiting="mailing 12"} 250.0'
            in scrape.content.decode()
        )
    finally:
        outage.recovered("database")
    assert outage.shared() == {}, "the database answers again: nothing is said to wait"


@pytest.mark.django_db
def test_health_names_nothing_waiting_when_nothing_is(client: Client) -> None:
    assert "waiting" not in client.get("/healthz").json()


@pytest.mark.django_db(transaction=True)
def test_a_lock_not_granted_is_no_outage_and_keeps_its_traceback() -> None:
    # A drain's lock_timeout ends in an OperationalError from a server that is up: counting it
    # as "the database is down" would hide the task's traceback behind an outage warning.
    connection.ensure_connection()
    dsn = connection.connection.info.dsn
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("CREATE TABLE outage_lock_probe (id int)")
        try:
            with other.transaction():
                other.execute("LOCK TABLE outage_lock_probe IN ACCESS EXCLUSIVE MODE")
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '10ms'")
                    with pytest.raises(db.OperationalError) as refused:
                        cursor.execute("SELECT * FROM outage_lock_probe")
        finally:
            other.execute("DROP TABLE outage_lock_probe")
    assert what_is_down(refused.value) == "unknown"
    assert OutageLogFilter().filter(_record(refused.value, "celery.app.trace"))  # kept

    # A connection that ended under us (a restart, a pooler or a network's timeout, the same
    # with PgBouncer in between) is the database being away.
    with socket.socket(fileno=os.dup(connection.connection.pgconn.socket)) as wire:
        wire.shutdown(socket.SHUT_RDWR)
    with pytest.raises(db.Error) as lost, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()
    assert what_is_down(lost.value) == "database"
