"""The webhook's INSERT is its connection's health check: one statement on the wire for a
delivery, and a connection the database dropped is renewed without losing the event."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from psycopg.pq import Trace

from donations.models import StripeEvent
from tests.donations.test_webhook import SECRET, _event, _post, _signed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def webhook_secret(settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def _deliver(client: Client) -> tuple[int, str]:
    """A delivery on a connection kept from an earlier request, as a server thread makes it:
    Django's request_started marks the connection for a health check (the test client leaves
    that signal out, so it is called here)."""
    connection.close_if_unusable_or_obsolete()
    payload = _event("payment_intent.succeeded")
    return _post(client, payload, _signed(payload)).status_code, json.loads(payload)["id"]


def test_a_delivery_sends_one_statement_and_no_health_check(client: Client, tmp_path: Path) -> None:
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]  # the check would apply
    assert _deliver(client)[0] == 200  # the connection is open and reused from here
    trace = tmp_path / "wire.txt"
    pgconn = connection.connection.pgconn
    with trace.open("w") as out:
        pgconn.trace(out.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        try:
            status, _ = _deliver(client)
        finally:
            pgconn.untrace()

    assert status == 200
    # libpq's own record of what went to the server: a line starting "F" is a message of ours
    # (a statement's text may run over several lines).
    wire = trace.read_text()
    sent = [line.split("\t")[2] for line in wire.splitlines() if line.startswith("F\t")]
    assert sent == ["Query"], wire
    assert "INSERT INTO donations_stripeevent" in wire
    assert "SELECT 1" not in wire


def test_a_connection_the_database_dropped_is_renewed_and_the_event_stored(
    client: Client,
) -> None:
    assert _deliver(client)[0] == 200
    dropped = connection.connection
    # What a restart, a pooler or a firewall's timeout does to an idle connection: the TCP
    # connection ends under it (the same with PgBouncer in between, which CI runs).
    with socket.socket(fileno=os.dup(dropped.pgconn.socket)) as wire:
        wire.shutdown(socket.SHUT_RDWR)

    status, event_id = _deliver(client)

    assert status == 200
    assert StripeEvent.objects.filter(stripe_id=event_id).exists()
    assert connection.connection is not dropped
