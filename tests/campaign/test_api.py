"""POST /api/signups and friends: status codes, JSON errors per field, the OpenAPI schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from campaign.models import Consent, Supporter
from tests.factories import ConsentFactory, SupporterFactory
from worker.models import OutboxTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consent_texts")]


def payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": "yara@voorbeeld.nl",
        "first_name": "Yara",
        "language": "nl",
        "topics": ["stories"],
        "consent": True,
    }
    data.update(overrides)
    return data


def post(client: Client, body: Any, path: str = "/api/signups", **extra: Any) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, raw, content_type="application/json", **extra)


def test_a_valid_sign_up_is_accepted_and_recorded(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    response = post(
        client,
        payload(utm_source="partner", source_page="/partner/"),
        headers={"user-agent": "partner-app/2"},
        REMOTE_ADDR="198.51.100.20",
    )

    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    supporter = Supporter.objects.get()
    assert (supporter.email, supporter.utm_source, supporter.source_page) == (
        "yara@voorbeeld.nl",
        "partner",
        "/partner/",
    )
    consent = Consent.objects.get()
    assert consent.method == Consent.Method.API
    assert consent.text == consent_texts["nl"]["stories"]
    assert (consent.ip, consent.user_agent) == ("198.51.100.20", "partner-app/2")
    assert OutboxTask.objects.get().task_name == "campaign.tasks.confirmation_send"


def test_the_answer_is_the_same_for_a_known_address(client: Client) -> None:
    known = SupporterFactory(email="yara@voorbeeld.nl")
    ConsentFactory(supporter=known, topic="stories")

    known_answer = post(client, payload(email="YARA@voorbeeld.nl"))
    new_answer = post(client, payload(email="nieuw@voorbeeld.nl"))

    assert known_answer.status_code == new_answer.status_code == 202
    assert known_answer.json() == new_answer.json()
    assert Supporter.objects.count() == 2


def test_the_wording_shown_can_be_named_and_must_match(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    stories_en = consent_texts["en"]["stories"]
    appeals_en = consent_texts["en"]["appeals"]

    ok = post(client, payload(language="en", consent_texts={"stories": stories_en.pk}))
    wrong = post(
        client,
        payload(email="b@voorbeeld.nl", language="en", consent_texts={"stories": appeals_en.pk}),
    )
    unknown = post(client, payload(email="c@voorbeeld.nl", consent_texts={"stories": 99999999}))

    assert ok.status_code == 202
    assert Consent.objects.get().text == stories_en
    assert wrong.status_code == 422
    assert "consent_texts" in wrong.json()["errors"]
    assert unknown.status_code == 422
    assert Supporter.objects.count() == 1


def test_the_consent_texts_endpoint_lists_the_current_wording(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    listed = client.get("/api/consent-texts?language=en").json()
    bad = client.get("/api/consent-texts?language=fr")

    assert {(t["topic"], t["id"]) for t in listed} == {
        (topic, text.pk) for topic, text in consent_texts["en"].items()
    }
    assert bad.status_code == 422
    assert bad.json() == {"errors": {"language": ["Kies Nederlands of Engels."]}}


@pytest.mark.parametrize(
    ("body", "language", "field", "message"),
    [
        (
            payload(email="nope"),
            "nl",
            "email",
            "Een e-mailadres heeft een @, zoals naam@voorbeeld.nl.",
        ),
        (
            payload(email="nope"),
            "en",
            "email",
            "An email address needs an @, as in name@example.nl.",
        ),
        (payload(email=""), "en", "email", "Enter your email address."),
        (
            payload(email="x" * 300 + "@voorbeeld.nl"),
            "en",
            "email",
            "An email address has at most 254 characters.",
        ),
        (
            payload(first_name="Visit http://x.example"),
            "en",
            "first_name",
            "Use only letters, spaces, hyphens and apostrophes in your first name.",
        ),
        (payload(language="de"), "nl", "language", "Kies Nederlands of Engels."),
        (payload(topics=[]), "en", "topics", "Choose at least one topic."),
        (payload(topics=["stories", "stories"]), "en", "topics", "Name each topic once."),
        (payload(topics=["lottery"]), "en", "topics", "Choose from the topics listed."),
        (
            payload(consent=False),
            "en",
            "consent",
            "Consent is required: send true once the person has ticked the box for each topic.",
        ),
        (payload(consent="yes"), "en", "consent", "Send true or false."),
        (payload(email=42), "en", "email", "Send text (a JSON string)."),
        (payload(topics="stories"), "en", "topics", "Send a list (a JSON array)."),
        (payload(admin=True), "en", "admin", "This field is not part of the API."),
        ({"topics": ["stories"], "consent": True}, "nl", "email", "Dit veld is verplicht."),
        (
            payload(utm_source="u" * 101),
            "en",
            "utm_source",
            "This field has at most 100 characters.",
        ),
        (
            # Padded past the published maxLength: refused, though stripped it would fit.
            payload(utm_term="\t" + "*" * 100),
            "en",
            "utm_term",
            "This field has at most 100 characters.",
        ),
        (payload(first_name="Nul\x00byte"), "en", "first_name", "Null characters are not allowed."),
        (
            payload(first_name="\ud800"),
            "en",
            "first_name",
            "Remove the invisible or control characters from this field.",
        ),
        (["not", "an", "object"], "en", "__all__", "Send a JSON object."),
    ],
)
def test_bad_input_gets_422_with_translated_messages_per_field(
    client: Client, body: Any, language: str, field: str, message: str
) -> None:
    response = post(client, body, headers={"accept-language": language})

    assert response.status_code == 422
    assert message in response.json()["errors"][field]
    assert Supporter.objects.count() == 0
    assert OutboxTask.objects.count() == 0


def test_malformed_requests_get_the_right_status_and_json(client: Client) -> None:
    not_json = post(client, "{nope")
    form = client.post("/api/signups", {"email": "a@voorbeeld.nl"})
    huge = post(client, payload(first_name="a" * 20000))
    invalid_utf8 = post(client, b'{"email": "\xff\xfe"}')

    assert (not_json.status_code, list(not_json.json()["errors"])) == (400, ["__all__"])
    assert (form.status_code, list(form.json()["errors"])) == (415, ["__all__"])
    assert (huge.status_code, list(huge.json()["errors"])) == (413, ["__all__"])
    assert invalid_utf8.status_code == 400
    assert client.get("/api/signups").status_code == 405
    assert Supporter.objects.count() == 0


def test_no_csrf_token_is_needed(consent_texts: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)

    assert post(client, payload()).status_code == 202


def test_ip_rate_limit_answers_429_with_retry_after(
    client: Client, settings: Any, unique_ip: Any, unique_email: Any
) -> None:
    settings.SUPPORTERS_RATE_SIGNUP_IP = "3/d"
    ip = unique_ip()

    statuses = [post(client, payload(email=unique_email()), REMOTE_ADDR=ip) for _ in range(5)]

    assert [r.status_code for r in statuses] == [202, 202, 202, 429, 429]
    assert int(statuses[-1]["Retry-After"]) > 0
    assert "__all__" in statuses[-1].json()["errors"]
    assert Supporter.objects.count() == 3


def test_resend_accepts_known_and_unknown_alike(client: Client) -> None:
    known = SupporterFactory(email="bekend@voorbeeld.nl")

    answers = [
        post(client, {"email": "BEKEND@voorbeeld.nl"}, "/api/signups/resend"),
        post(client, {"email": "onbekend@voorbeeld.nl"}, "/api/signups/resend"),
    ]
    invalid = post(client, {"email": "x"}, "/api/signups/resend")

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert list(OutboxTask.objects.values_list("args", flat=True)) == [[known.pk]]
    assert invalid.status_code == 422


def test_openapi_schema_documents_the_api(client: Client) -> None:
    schema = client.get("/api/openapi.json").json()

    signups = schema["paths"]["/api/signups"]["post"]
    body = signups["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["email", "topics", "consent"]
    assert body["properties"]["email"]["maxLength"] == 254
    assert body["properties"]["topics"]["items"]["enum"] == ["stories", "appeals", "donor_news"]
    assert body["additionalProperties"] is False
    assert set(signups["responses"]) >= {"202", "400", "413", "415", "422", "429"}
    assert "/api/signups/resend" in schema["paths"]
    assert "/api/consent-texts" in schema["paths"]
