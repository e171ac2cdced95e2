"""A TV appeal's sign-ups (issue 17): what one sign-up costs the database and Redis, and that the
cheaper path still writes every row once and sends every confirmation once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaign import services
from campaign.models import Consent, Supporter, SupporterAudit
from campaign.services import Evidence, SignupSource
from tests.campaign.test_api import payload, post
from tests.factories import SupporterFactory
from worker.models import OutboxTask
from worker.outbox import outbox_flush

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("consent_texts")]


def _statements(queries: CaptureQueriesContext) -> list[str]:
    """Each query as its verb and tables: "INSERT campaign_supporter", "COMMIT", "WITH
    campaign_supporter auditlog_logentry" (a statement of several INSERTs)."""
    shapes = []
    for query in queries.captured_queries:
        sql = query["sql"]
        if "nextval(" in sql:
            shapes.append("SELECT nextval")
            continue
        tables = re.findall(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
        shapes.append(" ".join([sql.split()[0], *tables[: None if sql.startswith("WITH") else 1]]))
    return shapes


def test_a_new_address_costs_an_id_and_one_statement_that_writes_every_row(
    client: Client, unique_email: Any, consent_texts: dict[str, Any]
) -> None:
    # Steady state: the first use of the wording marks it used (which replaces the process's
    # copy), the second reads it again; from the third on the process's caches serve.
    for _ in range(2):
        post(client, payload(email=unique_email(), topics=["stories", "appeals"]))
    email = unique_email()
    with CaptureQueriesContext(connection) as queries:
        response = post(client, payload(email=email, topics=["stories", "appeals"]))

    assert response.status_code == 202
    assert _statements(queries) == [
        "SELECT nextval",  # the supporter's id, which every other row names
        # No transaction of its own: one statement is all or nothing.
        "WITH campaign_supporter auditlog_logentry campaign_supporteraudit campaign_consent"
        " worker_outboxtask",
    ]
    supporter = Supporter.objects.get(email=email)
    assert (supporter.status, supporter.language) == ("pending", "nl")
    consents = Consent.objects.filter(supporter=supporter).order_by("topic")
    assert [(c.topic, c.text_id, c.given_at) for c in consents] == [
        ("appeals", consent_texts["nl"]["appeals"].pk, supporter.created_at),
        ("stories", consent_texts["nl"]["stories"].pk, supporter.created_at),
    ]
    audit = SupporterAudit.objects.get(supporter=supporter)
    assert (audit.action, audit.details) == (
        "signed_up",
        {"topics": ["appeals", "stories"], "language": "nl"},
    )
    entry = LogEntry.objects.get_for_object(supporter).get()
    # The entry records the times the row holds (set before the statement, not by it).
    written = datetime.fromisoformat(entry.changes_dict["created_at"][1])
    assert written.replace(tzinfo=written.tzinfo or UTC) == supporter.created_at
    task = OutboxTask.objects.get(args=[supporter.pk])
    assert (task.task_name, task.by_flush, task.published_at) == (
        "campaign.tasks.confirmation_send",
        True,
        None,
    )


def test_a_sign_up_inside_a_callers_transaction_leaves_it_usable_when_the_address_is_known(
    unique_email: Any, consent_texts: dict[str, Any]
) -> None:
    # Outside a transaction the new-address statement needs none; inside one its refusal must
    # not abort the caller's (a savepoint).
    known = SupporterFactory(email=unique_email())
    with transaction.atomic():
        again = services.supporter_sign_up(
            email=known.email,
            first_name="",
            language="nl",
            texts={"stories": consent_texts["nl"]["stories"]},
            evidence=Evidence.from_values(method="api", ip=None, user_agent=""),
            source=SignupSource(page="", referrer=""),
        )
        assert again.pk == known.pk
        assert Supporter.objects.count() == 1  # the caller's transaction still answers

    assert list(Consent.objects.filter(supporter=known).values_list("topic", flat=True)) == [
        "stories"
    ]


def test_the_first_sign_up_with_new_wording_marks_it_used_in_the_same_transaction(
    client: Client, unique_email: Any
) -> None:
    post(client, payload(email=unique_email()))  # per-process caches (content types)
    text = services.consent_text_add(topic="stories", language="nl", text="Nieuwe woorden.")
    assert text.first_used_at is None
    with CaptureQueriesContext(connection) as queries:
        assert post(client, payload(email=unique_email())).status_code == 202

    shapes = _statements(queries)
    assert shapes[shapes.index("BEGIN") :] == [
        "BEGIN",
        "SELECT nextval",
        "WITH campaign_supporter auditlog_logentry campaign_supporteraudit campaign_consent"
        " worker_outboxtask",
        "UPDATE campaign_consenttext",
        "COMMIT",
    ]
    text.refresh_from_db()
    assert text.first_used_at is not None
    # The new wording, not the process's copy of the old.
    assert Consent.objects.order_by("pk").last().text == text


def test_a_known_address_takes_the_locked_path_and_changes_nothing_confirmed(
    client: Client, unique_email: Any
) -> None:
    email = unique_email()
    assert post(client, payload(email=email, topics=["stories", "appeals"])).status_code == 202

    with CaptureQueriesContext(connection) as queries:
        again = post(client, payload(email=email.upper(), topics=["stories", "donor_news"]))

    assert again.status_code == 202
    shapes = _statements(queries)
    # The first attempt's statement is refused by the unique index and rolled back whole
    # (in a transaction: "donor_news" wording is used for the first time, which it marks).
    assert shapes[:6] == [
        "SELECT campaign_consenttext",  # the wording again: the first sign-up marked it used
        "BEGIN",
        "SELECT nextval",
        "WITH campaign_supporter auditlog_logentry campaign_supporteraudit campaign_consent"
        " worker_outboxtask",
        "ROLLBACK",
        "BEGIN",
    ]
    assert len(shapes) <= 13
    supporter = Supporter.objects.get()
    assert sorted(Consent.objects.values_list("topic", flat=True)) == [
        "appeals",
        "donor_news",
        "stories",
    ]
    assert list(
        SupporterAudit.objects.filter(supporter=supporter).values_list("action", flat=True)
    ) == ["signed_up", "signed_up_again"]
    assert OutboxTask.objects.count() == 2


def test_the_confirmation_task_is_published_once_by_the_flush_not_by_the_request(
    client: Client, unique_email: Any
) -> None:
    for _ in range(3):
        assert post(client, payload(email=unique_email())).status_code == 202
    # The requests only nudged the flush; their rows wait for it.
    assert OutboxTask.objects.filter(published_at__isnull=True, by_flush=True).count() == 3

    assert outbox_flush() == 3
    assert outbox_flush() == 0

    rows = OutboxTask.objects.all()
    assert all(row.published_at is not None and row.attempts == 1 for row in rows)
    assert sorted(row.args[0] for row in rows) == sorted(
        Supporter.objects.values_list("pk", flat=True)
    )


def test_a_resend_still_publishes_at_once_and_the_flush_leaves_it_alone(client: Client) -> None:
    known = SupporterFactory(email="bekend@voorbeeld.nl")

    post(client, {"email": "bekend@voorbeeld.nl"}, "/api/signups/resend")

    row = OutboxTask.objects.get()
    assert (row.by_flush, row.args, row.attempts) == (False, [known.pk], 1)
    assert outbox_flush() == 0


def test_a_request_refused_for_its_network_leaves_the_address_its_budget(
    client: Client, settings: Any, unique_ip: Any, unique_email: Any
) -> None:
    settings.SUPPORTERS_RATE_SIGNUP_IP = "1/d"
    settings.SUPPORTERS_RATE_SIGNUP_EMAIL = "1/d"
    ip, email = unique_ip(), unique_email()

    first = post(client, payload(email=unique_email()), REMOTE_ADDR=ip)
    refused = post(client, payload(email=email), REMOTE_ADDR=ip)
    elsewhere = post(client, payload(email=email), REMOTE_ADDR=unique_ip())

    assert [first.status_code, refused.status_code, elsewhere.status_code] == [202, 429, 202]
    # The refused request did not count against the address: from another network it is
    # stored (with the address's one sign-up a day still unused).
    assert Supporter.objects.filter(email=email).exists()
