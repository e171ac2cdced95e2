"""Property-based fuzzing of POST /api/signups and every public supporter form (hypothesis).

Three properties everywhere: never a server error (the test client re-raises any exception,
so a 500 fails the test), never a request costing a second of CPU (tests/fuzzing.py), and
never a row for input that is not a valid sign-up. Signed-link routes: test_fuzz_links.py;
the donate and manage forms: tests/donations/test_fuzz_forms.py; the API by its OpenAPI
schema: test_fuzz_api.py.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaign.emails import supporter_link_token
from campaign.models import Consent, Supporter, SupporterAudit, Topic
from tests.factories import ConsentFactory, SupporterFactory
from tests.fuzzing import TimedClient
from worker.models import OutboxTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consent_texts")]


@pytest.fixture
def client() -> TimedClient:
    return TimedClient()


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text as a browser can send it (no lone surrogates: they cannot be encoded in a form post).
form_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
nasty_text = st.one_of(
    form_text,
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\u202e",
            "http://x.example",
            "<script>",
            "' OR 1=1 --",
            "a" * 5000,
            "Zoë",
            "x@y",
            "noor@voorbeeld.nl",
            "NOOR@VOORBEELD.NL",
            "@",
            "a@b.c",
        ]
    ),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.just("\ud800"),  # a lone surrogate: valid in JSON, fatal for PostgreSQL if stored
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
topic_lists = st.lists(st.sampled_from([*Topic.values, "spam", ""]), max_size=5)
api_fields = {
    "email": st.one_of(st.emails(), nasty_text, json_values),
    "first_name": st.one_of(nasty_text, json_values),
    "language": st.one_of(st.sampled_from(["nl", "en", "de", "", "NL"]), json_values),
    "topics": st.one_of(topic_lists, json_values),
    "consent": st.one_of(st.booleans(), json_values),
    "consent_texts": st.one_of(
        st.dictionaries(st.sampled_from([*Topic.values, "x"]), st.integers(), max_size=3),
        json_values,
    ),
    "source_page": st.one_of(nasty_text, json_values),
    "referrer": nasty_text,
    "utm_source": nasty_text,
    "utm_campaign": nasty_text,
}
api_payloads = st.fixed_dictionaries({}, optional=api_fields) | st.dictionaries(
    st.text(max_size=12), json_values, max_size=5
)


def counts() -> tuple[int, int, int, int]:
    return (
        Supporter.objects.count(),
        Consent.objects.count(),
        OutboxTask.objects.count(),
        SupporterAudit.objects.count(),
    )


def valid_email(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return False
    return True


def is_valid_signup(data: dict[str, Any]) -> bool:
    """An oracle independent of the code under test: what a 202 requires."""
    topics = data.get("topics")
    return (
        valid_email(data.get("email"))
        and data.get("consent") is True
        and isinstance(topics, list)
        and 0 < len(topics) == len(set(topics))
        and set(topics) <= set(Topic.values)
        and data.get("language", "nl") in {"nl", "en"}
    )


@FUZZ
@given(data=api_payloads)
def test_api_signups_never_errors_and_stores_nothing_for_invalid_input(
    client: Client, data: dict[str, Any]
) -> None:
    before = counts()

    response = client.post("/api/signups", json.dumps(data), content_type="application/json")

    assert response.status_code in {202, 400, 413, 422}
    assert "errors" in response.json() or response.status_code == 202
    if response.status_code != 202:
        assert counts() == before
    else:
        assert is_valid_signup(data), data


@FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ]
    ),
)
def test_api_signups_survives_arbitrary_bodies(
    client: Client, body: bytes, content_type: str
) -> None:
    before = counts()

    response = client.generic("POST", "/api/signups", body, content_type=content_type)

    assert response.status_code in {202, 400, 413, 415, 422}
    if response.status_code != 202:
        assert counts() == before


@FUZZ
@given(data=st.fixed_dictionaries({}, optional={"email": st.one_of(st.emails(), json_values)}))
def test_api_resend_never_errors(client: Client, data: dict[str, Any]) -> None:
    before = counts()[:2]

    response = client.post("/api/signups/resend", json.dumps(data), content_type="application/json")

    assert response.status_code in {202, 400, 422}
    assert counts()[:2] == before


form_fields = {
    "email": st.one_of(st.emails(), nasty_text),
    "first_name": nasty_text,
    "language": st.one_of(st.sampled_from(["nl", "en"]), nasty_text),
    "topics": st.one_of(topic_lists, nasty_text),
    "consent_texts": st.one_of(nasty_text, st.just("1,2,3")),
    "website": st.one_of(st.just(""), nasty_text),
    "source_page": nasty_text,
    "referrer": nasty_text,
    "utm_source": nasty_text,
    "utm_medium": nasty_text,
    "utm_content": nasty_text,
}


@FUZZ
@given(
    data=st.fixed_dictionaries({}, optional=form_fields),
    path=st.sampled_from(["/aanmelden/", "/en/signup/"]),
)
def test_signup_form_never_errors_and_stores_nothing_for_invalid_input(
    client: Client, data: dict[str, Any], path: str
) -> None:
    before = counts()

    response = client.post(path, data)

    assert response.status_code in {200, 302}
    if response.status_code == 200 or str(data.get("website", "")).strip():
        assert counts() == before
    if counts() != before:
        topics = data.get("topics")
        topics = topics if isinstance(topics, list) else [topics]
        assert valid_email(data.get("email"))
        assert topics
        assert set(topics) <= set(Topic.values)


@FUZZ
@given(body=st.binary(max_size=1500))
def test_signup_form_survives_raw_bytes(client: Client, body: bytes) -> None:
    before = counts()

    response = client.generic(
        "POST", "/aanmelden/", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code in {200, 302}
    if response.status_code == 200:
        assert counts() == before


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {}, optional={"email": st.one_of(st.emails(), nasty_text), "website": nasty_text}
    )
)
def test_resend_form_never_errors(client: Client, data: dict[str, Any]) -> None:
    before = counts()[:2]

    response = client.post("/aanmelden/opnieuw/", data)

    assert response.status_code == 200
    assert counts()[:2] == before


@pytest.fixture
def member(consent_texts: dict[str, Any]) -> Supporter:
    supporter = SupporterFactory()
    ConsentFactory(supporter=supporter, topic="stories", text=consent_texts["nl"]["stories"])
    return supporter


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {"action": st.one_of(st.just("save"), nasty_text)},
        optional={
            "first_name": nasty_text,
            "language": st.one_of(st.sampled_from(["nl", "en"]), nasty_text),
            "topics": st.one_of(topic_lists, nasty_text),
            "consent_texts": nasty_text,
        },
    )
)
def test_preference_form_never_errors_and_changes_nothing_when_invalid(
    client: Client, member: Supporter, data: dict[str, Any]
) -> None:
    member.refresh_from_db()
    before = (member.first_name, member.language, counts())

    response = client.post(f"/voorkeuren/{supporter_link_token(member)}/", data)

    assert response.status_code in {200, 302}
    if response.status_code == 200:
        member.refresh_from_db()
        assert (member.first_name, member.language, counts()) == before


@FUZZ
@given(body=st.binary(max_size=500), token=st.text(max_size=120))
def test_unsubscribe_and_link_endpoints_never_error(
    client: Client, member: Supporter, body: bytes, token: str
) -> None:
    safe = quote(token, safe="") or "x"

    unsubscribe = client.generic(
        "POST",
        f"/u/{supporter_link_token(member)}/",
        body,
        content_type="application/x-www-form-urlencoded",
    )
    forged = client.post(f"/u/{safe}/", {"List-Unsubscribe": "One-Click"})
    confirm = client.get(f"/aanmelden/bevestigen/{safe}/")
    preferences = client.get(f"/voorkeuren/{safe}/")

    assert unsubscribe.status_code in {200, 400}
    assert forged.status_code in {404, 200, 400}
    assert confirm.status_code in {400, 404}
    assert preferences.status_code == 404
