"""Every operation of the JSON API, fuzzed from its own OpenAPI schema (schemathesis).

Schemathesis reads /api/openapi.json from the running app and generates requests that follow
the schema and requests that break it. Every answer must be no server error, conform to the
schema (status, content type, body), cost under a second of CPU (tests/fuzzing.py), and a
request the API refuses (4xx) must leave the database as it was.

The app is called through its WSGI handler in this thread, inside the test's transaction (as
Django's test client does, the handler's per-request connection closing is switched off:
it would end the test's transaction).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.specs.openapi.checks import positive_data_acceptance

from campaign.models import Consent, ConsentText, Supporter, SupporterAudit
from tests.fuzzing import REQUEST_CPU_SECONDS, row_counts
from worker.models import OutboxTask

WATCHED = (Supporter, Consent, ConsentText, SupporterAudit, OutboxTask)


# Read from the app itself, as a client would (the schema needs no database).
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture(autouse=True)
def wsgi_in_test_transaction(db: None, consent_texts: Any) -> Iterator[None]:
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
def test_every_api_operation(case: Any) -> None:
    before = row_counts(*WATCHED)
    started = time.process_time()

    response = case.call()

    spent = time.process_time() - started
    # Schema-valid is not always acceptable: a consent_texts id must name a wording that
    # exists, which no schema can say. Every other check runs (server error, status code,
    # content type, response body against the schema, invalid data rejected).
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
    assert response.status_code < 500
    assert spent < REQUEST_CPU_SECONDS, f"{case.method} {case.path} took {spent:.2f} s"
    if 400 <= response.status_code < 500:
        assert row_counts(*WATCHED) == before
