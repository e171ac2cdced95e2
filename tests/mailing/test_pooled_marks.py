"""Behind PgBouncer in transaction pooling a sent mark carries its own commit setting: a
session's SET would land on one server connection and stay there for other clients' work (a
webhook's INSERT answered 2xx before it reached the disk), and the marks, each its own
transaction on any server connection, would wait for a WAL flush each."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailing import services
from mailing.models import Delivery
from mailing.sending import _SentMarks, deliveries_send
from tests.factories import ConsentFactory
from tests.mailing.factories import DeliveryFactory, MailingFactory

pytestmark = pytest.mark.django_db(transaction=True)
SESSION_SET = re.compile(r"\s*SET\s+(?!LOCAL\b)", re.IGNORECASE)


def _show_synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def test_a_pooled_mark_commits_alone_and_leaves_the_session_as_it_was(settings: Any) -> None:
    # Given a row being sent, on a connection that goes through a transaction pooler
    settings.DB_TRANSACTION_POOLING = True
    row = DeliveryFactory(state=Delivery.State.SENDING, smtp_message_id="")
    assert _show_synchronous_commit() == "on"

    # When its mark is sent and confirmed
    marks = _SentMarks()
    marks.send(row.pk, "<o'brien-1@savethechildren.example>", "'")
    marks.wait()

    # Then the row is sent with the message's id and variant (quoted safely), no transaction
    # is left open, and the session's setting is untouched
    row.refresh_from_db()
    assert (row.state, row.smtp_message_id, row.variant) == (
        Delivery.State.SENT,
        "<o'brien-1@savethechildren.example>",
        "'",
    )
    assert not connection.in_atomic_block
    assert connection.connection.info.transaction_status.name == "IDLE"
    assert _show_synchronous_commit() == "on"


def test_a_pooled_mark_that_fails_leaves_no_transaction_behind(settings: Any) -> None:
    # Given a row being sent and a mark the database refuses (a variant longer than its column)
    settings.DB_TRANSACTION_POOLING = True
    row = DeliveryFactory(state=Delivery.State.SENDING, smtp_message_id="")
    marks = _SentMarks()
    marks.send(row.pk, "<ledger-2@savethechildren.example>", "x" * 1000)

    # When it is confirmed, it fails; the connection is idle and usable, the row unchanged
    with pytest.raises(RuntimeError, match="marking a row sent failed"):
        marks.wait()
    assert connection.connection.info.transaction_status.name == "IDLE"
    row.refresh_from_db()
    assert row.state == Delivery.State.SENDING


def test_behind_a_pooler_a_batch_sets_nothing_for_the_session(
    settings: Any, smtp_server: Any
) -> None:
    # Given a due mailing for three supporters, sent through a transaction pooler
    settings.DB_TRANSACTION_POOLING = True
    for _ in range(3):
        ConsentFactory()
    mailing = services.mailing_schedule(mailing_id=MailingFactory().pk, send_at=timezone.now())
    services.mailing_tick()
    rows = list(Delivery.objects.filter(message__mailing=mailing).values_list("id", flat=True))

    # When the batch is sent
    with CaptureQueriesContext(connection) as queries:
        outcome = deliveries_send(rows)

    # Then all three went out and are marked, and no statement set anything for the session
    # (a pooler would leave it on a server connection that serves others next)
    assert outcome.sent == 3
    assert Delivery.objects.filter(pk__in=rows, state=Delivery.State.SENT).count() == 3
    session_sets = [q["sql"] for q in queries.captured_queries if SESSION_SET.match(q["sql"])]
    assert session_sets == []
    assert _show_synchronous_commit() == "on"
