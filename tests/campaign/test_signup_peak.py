"""A TV appeal's sign-ups (issue 17): what one sign-up costs the database and Redis, and that the
cheaper path still writes every row once and sends every confirmation once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaign.models import Consent, Supporter, SupporterAudit
from tests.campaign.test_api import payload, post
from tests.factories import SupporterFactory
from worker.models import OutboxTask
from worker.outbox import outbox_flush

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("consent_texts")]


def _statements(queries: CaptureQueriesContext) -> list[str]:
    """Each query as its verb and table: "INSERT campaign_supporter", "COMMIT"."""
    shapes = []
    for query in queries.captured_queries:
        sql = query["sql"]
        table = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
        shapes.append(f"{sql.split()[0]} {table.group(1)}" if table else sql.split()[0])
    return shapes


def test_a_new_address_costs_one_read_and_one_transaction_of_five_inserts(
    client: Client, unique_email: Any
) -> None:
    post(client, payload(email=unique_email()))  # per-process caches (content types) are warm
    with CaptureQueriesContext(connection) as queries:
        response = post(client, payload(email=unique_email()))

    assert response.status_code == 202
    assert _statements(queries) == [
        "SELECT campaign_consenttext",  # the wording to record
        "BEGIN",
        "INSERT campaign_supporter",
        "INSERT auditlog_logentry",
        "INSERT campaign_supporteraudit",
        "INSERT campaign_consent",  # both topics in one
        "INSERT worker_outboxtask",
        "COMMIT",
    ]


def test_a_known_address_takes_the_locked_path_and_changes_nothing_confirmed(
    client: Client, unique_email: Any
) -> None:
    email = unique_email()
    assert post(client, payload(email=email, topics=["stories", "appeals"])).status_code == 202

    with CaptureQueriesContext(connection) as queries:
        again = post(client, payload(email=email.upper(), topics=["stories", "donor_news"]))

    assert again.status_code == 202
    shapes = _statements(queries)
    # The first attempt's INSERT is refused by the unique index and rolled back whole.
    assert shapes[:4] == [
        "SELECT campaign_consenttext",
        "BEGIN",
        "INSERT campaign_supporter",
        "ROLLBACK",
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
