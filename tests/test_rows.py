"""config.rows.rows_insert: rows of several models in one statement, written as save() would
write them (defaults, auto_now_add, db_default, empty columns), or not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from campaign.models import Supporter, SupporterAudit
from config.rows import next_id, rows_insert
from donations.models import StripeEvent
from tests.factories import SupporterFactory
from worker.models import OutboxTask

pytestmark = pytest.mark.django_db


def test_rows_of_three_models_are_one_statement_and_read_back_as_given() -> None:
    supporter = SupporterFactory()
    heard: list[type] = []

    def listen(sender: type, **_kwargs: object) -> None:
        heard.append(sender)

    post_save.connect(listen, weak=False, dispatch_uid="test_rows")
    try:
        with CaptureQueriesContext(connection) as queries:
            rows_insert(
                [
                    OutboxTask(task_name="een.taak", args=[supporter.pk]),
                    SupporterAudit(
                        supporter=supporter, action="signed_up", actor="supporter", details={}
                    ),
                    OutboxTask(task_name="twee.taak", kwargs={"k": "€ 1.234,56"}, by_flush=True),
                    StripeEvent(stripe_id="evt_rows", type="charge.succeeded", payload={"a": 1}),
                ]
            )
    finally:
        post_save.disconnect(dispatch_uid="test_rows")

    assert len(queries) == 1
    assert heard == []  # like bulk_create: no model signal
    tasks = {t.task_name: t for t in OutboxTask.objects.all()}
    assert set(tasks) == {"een.taak", "twee.taak"}
    # Python defaults (args, kwargs, attempts), auto_now_add, and empty columns as NULL.
    assert (tasks["een.taak"].args, tasks["een.taak"].kwargs) == ([supporter.pk], {})
    assert (tasks["twee.taak"].kwargs, tasks["twee.taak"].by_flush) == ({"k": "€ 1.234,56"}, True)
    assert tasks["een.taak"].attempts == 0
    assert tasks["een.taak"].published_at is None
    assert tasks["een.taak"].created_at is not None
    audit = SupporterAudit.objects.get(supporter=supporter)
    assert (audit.action, audit.staff_user_id, audit.details) == ("signed_up", None, {})
    event = StripeEvent.objects.get(stripe_id="evt_rows")
    # gift_key has only a database default: the column's DEFAULT wrote it.
    assert (event.gift_key, event.via, event.payload) == ("", "webhook", {"a": 1})


def test_a_time_already_set_is_kept_and_an_empty_one_is_filled() -> None:
    chosen = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    kept = OutboxTask(task_name="gezet", created_at=chosen)
    filled = OutboxTask(task_name="leeg")

    rows_insert([kept, filled])

    assert OutboxTask.objects.get(task_name="gezet").created_at == chosen
    assert OutboxTask.objects.get(task_name="leeg").created_at > chosen
    assert not kept._state.adding
    assert kept._state.db == "default"


def test_rows_with_ids_from_the_sequence_keep_them_and_mixing_is_refused() -> None:
    first, second = next_id(OutboxTask), next_id(OutboxTask)
    rows_insert([OutboxTask(pk=second, task_name="eigen")])
    later = OutboxTask.objects.create(task_name="daarna")  # the sequence has moved on

    assert second > first
    assert OutboxTask.objects.get(pk=second).task_name == "eigen"
    assert later.pk > second

    with pytest.raises(ValueError, match="primary key, or none"):
        rows_insert([OutboxTask(pk=next_id(OutboxTask), task_name="a"), OutboxTask(task_name="b")])
    assert not OutboxTask.objects.filter(task_name__in=["a", "b"]).exists()


def test_one_refused_row_writes_none_of_them() -> None:
    taken = SupporterFactory(email="bezet@voorbeeld.nl")

    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(
            [
                OutboxTask(task_name="zou.blijven"),
                Supporter(email="BEZET@voorbeeld.nl", language="nl"),
            ]
        )

    assert not OutboxTask.objects.filter(task_name="zou.blijven").exists()
    assert Supporter.objects.get() == taken


def test_nothing_to_write_sends_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        rows_insert([])
    assert len(queries) == 0


def test_many_rows_of_a_model_are_written_as_one_array_per_column() -> None:
    # Given six tasks with JSON, empty columns, times set and left to auto_now_add
    written_at = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    tasks = [
        OutboxTask(
            task_name=f"taak.{n}",
            args=[n, "€ 1.234,56"],
            kwargs={"n": n, "leeg": None} if n % 2 else {},
            published_at=written_at if n == 3 else None,
        )
        for n in range(6)
    ]

    # When they are written
    with CaptureQueriesContext(connection) as queries:
        rows_insert(tasks)

    # Then in one statement with a parameter per column, and they read back as given
    assert len(queries) == 1
    assert "unnest(" in queries[0]["sql"]
    stored = {t.task_name: t for t in OutboxTask.objects.all()}
    for n in range(6):
        task = stored[f"taak.{n}"]
        assert (task.args, task.kwargs) == (
            [n, "€ 1.234,56"],
            {"n": n, "leeg": None} if n % 2 else {},
        )
        assert task.published_at == (written_at if n == 3 else None)
        assert task.created_at is not None
        assert task.attempts == 0
