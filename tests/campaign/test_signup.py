"""Sign-up through the HTML form: evidence, no enumeration, bad input, bots, rate limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from campaign.models import Consent, Supporter, SupporterAudit
from tests.factories import ConsentFactory, StoryFactory, SupporterFactory
from worker.models import OutboxTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consent_texts")]


def form_data(texts: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": "noor@voorbeeld.nl",
        "first_name": "Noor",
        "language": "nl",
        "topics": ["stories", "appeals"],
        "consent_texts": ",".join(str(t.pk) for t in texts.values()),
        "website": "",
        "source_page": "/verhalen/amira/",
        "referrer": "https://nieuws.example.org/artikel",
        "utm_source": "nieuwsbrief",
        "utm_medium": "email",
        "utm_campaign": "lancering",
        "utm_term": "",
        "utm_content": "",
    }
    data.update(overrides)
    return data


def test_story_page_shows_the_form_with_the_exact_versioned_wording(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    story = StoryFactory()

    html = client.get(f"/verhalen/{story.slug}/?utm_source=krant&utm_campaign=x").content.decode()

    assert 'action="/aanmelden/"' in html
    for text in consent_texts["nl"].values():
        assert text.text in html
    ids = ",".join(str(t.pk) for t in consent_texts["nl"].values())
    assert f'name="consent_texts" value="{ids}"' in html
    # The page and the visit's UTM tags travel with the form as its source.
    assert f'name="source_page" value="/verhalen/{story.slug}/"' in html
    assert 'name="utm_source" value="krant"' in html
    # The honeypot is hidden from people and assistive technology alike.
    assert re.search(r'<div class="hp" aria-hidden="true">', html)
    assert 'tabindex="-1" autocomplete="off"' in html
    assert "campaign/forms.css" in html


def test_landing_page_in_english_shows_english_wording(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    html = client.get("/en/").content.decode()

    assert 'action="/en/signup/"' in html
    for text in consent_texts["en"].values():
        assert text.text in html
    assert '<option value="en" lang="en" selected>' in html


def test_sign_up_records_provable_consent_and_queues_the_confirmation(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    response = client.post(
        "/aanmelden/",
        form_data(consent_texts["nl"]),
        headers={"user-agent": "Firefox/140 test"},
        REMOTE_ADDR="198.51.100.7",
    )

    assert response.status_code == 302
    assert response["Location"] == "/aanmelden/bedankt/"
    supporter = Supporter.objects.get()
    assert supporter.email == "noor@voorbeeld.nl"
    assert supporter.first_name == "Noor"
    assert supporter.status == Supporter.Status.PENDING
    assert supporter.confirmed_at is None
    assert (supporter.source_page, supporter.source_referrer) == (
        "/verhalen/amira/",
        "https://nieuws.example.org/artikel",
    )
    assert (supporter.utm_source, supporter.utm_medium, supporter.utm_campaign) == (
        "nieuwsbrief",
        "email",
        "lancering",
    )
    consents = {c.topic: c for c in Consent.objects.all()}
    assert set(consents) == {"stories", "appeals"}
    for topic, consent in consents.items():
        assert consent.text == consent_texts["nl"][topic]
        assert consent.text.first_used_at is not None
        assert consent.method == Consent.Method.FORM
        assert consent.ip == "198.51.100.7"
        assert consent.user_agent == "Firefox/140 test"
        assert consent.confirmed_at is None
    assert supporter.confirmation_nonce
    task = OutboxTask.objects.get()
    assert (task.task_name, task.args) == ("campaign.tasks.confirmation_send", [supporter.pk])
    audit = SupporterAudit.objects.get()
    assert audit.action == SupporterAudit.Action.SIGNED_UP
    assert audit.details == {"topics": ["appeals", "stories"], "language": "nl"}


def test_address_is_normalised_and_unique_whatever_its_case(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    client.post("/aanmelden/", form_data(consent_texts["nl"], email="  Noor@VOORBEELD.nl "))
    client.post("/aanmelden/", form_data(consent_texts["nl"], email="NOOR@voorbeeld.NL"))

    assert list(Supporter.objects.values_list("email", flat=True)) == ["Noor@voorbeeld.nl"]
    assert Consent.objects.count() == 2  # the second request added nothing new


def test_known_address_gets_the_same_answer_and_keeps_its_confirmed_data(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    known = SupporterFactory(email="bekend@voorbeeld.nl", first_name="Sara", language="en")
    confirmed = ConsentFactory(supporter=known, topic="stories")

    unknown_response = client.post(
        "/aanmelden/", form_data(consent_texts["nl"], email="nieuw@voorbeeld.nl")
    )
    known_response = client.post(
        "/aanmelden/",
        form_data(consent_texts["nl"], email="Bekend@voorbeeld.nl", first_name="Aanvaller"),
    )

    assert known_response.status_code == unknown_response.status_code == 302
    assert known_response["Location"] == unknown_response["Location"]
    known.refresh_from_db()
    # A confirmed profile is never overwritten by an unconfirmed request.
    assert (known.first_name, known.language) == ("Sara", "en")
    confirmed.refresh_from_db()
    assert confirmed.withdrawn_at is None
    assert confirmed.confirmed_at is not None
    # The new topic waits for confirmation through the known address's own mailbox.
    pending = Consent.objects.get(supporter=known, topic="appeals")
    assert pending.confirmed_at is None
    assert Supporter.objects.count() == 2
    assert OutboxTask.objects.filter(args=[known.pk]).exists()
    assert SupporterAudit.objects.filter(
        supporter=known, action=SupporterAudit.Action.SIGNED_UP_AGAIN
    ).exists()


@pytest.mark.parametrize(
    ("path", "overrides", "field", "message"),
    [
        ("/aanmelden/", {"email": ""}, "email", "Vul je e-mailadres in."),
        ("/aanmelden/", {"email": "noor.voorbeeld.nl"}, "email", "Een e-mailadres heeft een @"),
        ("/aanmelden/", {"email": "noor@voorbeeld"}, "email", "Vul een geldig e-mailadres in"),
        ("/aanmelden/", {"email": "a" * 250 + "@x.nl"}, "email", "maximaal 254 tekens"),
        ("/aanmelden/", {"first_name": "http://spam.example"}, "first_name", "alleen letters"),
        ("/aanmelden/", {"first_name": "N" * 101}, "first_name", "maximaal 100 tekens"),
        ("/aanmelden/", {"topics": []}, "topics", "Kies minstens één onderwerp."),
        ("/aanmelden/", {"topics": ["spam"]}, "topics", "Kies uit de onderwerpen"),
        ("/aanmelden/", {"language": "de"}, "language", "Kies Nederlands of Engels."),
        ("/en/signup/", {"email": ""}, "email", "Enter your email address."),
        ("/en/signup/", {"topics": []}, "topics", "Choose at least one topic."),
        ("/en/signup/", {"first_name": "Bob\u202e"}, "first_name", "invisible or control"),
    ],
)
def test_bad_input_gets_a_clear_translated_error_and_stores_nothing(
    client: Client,
    consent_texts: dict[str, Any],
    path: str,
    overrides: dict[str, Any],
    field: str,
    message: str,
) -> None:
    language = "en" if path.startswith("/en/") else "nl"

    response = client.post(path, form_data(consent_texts[language], **overrides))

    html = response.content.decode()
    assert response.status_code == 200
    assert message in html
    assert 'class="error-summary" role="alert"' in html
    assert f"<title>{'Error:' if language == 'en' else 'Fout:'}" in html
    if field != "topics":
        assert f'id="id_{field}"' in html
        assert f'aria-describedby="id_{field}-error"' in html
    assert Supporter.objects.count() == 0
    assert Consent.objects.count() == 0
    assert OutboxTask.objects.count() == 0


def test_tampered_hidden_fields_store_nothing(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    for overrides in (
        {"consent_texts": "999999"},
        {"consent_texts": "abc"},
        {"source_page": "/" + "x" * 400},
        {"utm_source": "bad\x00byte"},
    ):
        response = client.post("/aanmelden/", form_data(consent_texts["nl"], **overrides))
        assert response.status_code == 200
    assert Supporter.objects.count() == 0


def test_bots_filling_the_honeypot_get_the_same_answer_and_nothing_is_stored(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    person = client.post("/aanmelden/", form_data(consent_texts["nl"], email="mens@voorbeeld.nl"))
    Supporter.objects.all().delete()
    OutboxTask.objects.all().delete()

    bot = client.post(
        "/aanmelden/",
        form_data(consent_texts["nl"], email="bot@voorbeeld.nl", website="http://spam.example"),
    )

    assert (bot.status_code, bot["Location"]) == (person.status_code, person["Location"])
    assert Supporter.objects.count() == 0
    assert Consent.objects.count() == 0
    assert OutboxTask.objects.count() == 0


def test_ip_rate_limit_answers_429_and_stores_nothing(
    client: Client, consent_texts: dict[str, Any], settings: Any, unique_email: Any, unique_ip: Any
) -> None:
    settings.SUPPORTERS_RATE_SIGNUP_IP = "2/d"
    ip = unique_ip()
    statuses = [
        client.post(
            "/aanmelden/", form_data(consent_texts["nl"], email=unique_email()), REMOTE_ADDR=ip
        ).status_code
        for _ in range(4)
    ]

    assert statuses == [302, 302, 429, 429]
    assert Supporter.objects.count() == 2
    limited = client.post("/aanmelden/", form_data(consent_texts["nl"]), REMOTE_ADDR=ip)
    assert int(limited["Retry-After"]) > 0
    assert "Te veel pogingen" in limited.content.decode()


def test_email_rate_limit_gives_the_same_answer_but_sends_nothing_more(
    client: Client, consent_texts: dict[str, Any], settings: Any, unique_email: Any
) -> None:
    settings.SUPPORTERS_RATE_SIGNUP_EMAIL = "2/d"
    email = unique_email()
    responses = [
        client.post("/aanmelden/", form_data(consent_texts["nl"], email=email.upper()))
        for _ in range(4)
    ]

    assert {r["Location"] for r in responses} == {"/aanmelden/bedankt/"}
    assert OutboxTask.objects.count() == 2


def test_thanks_page_never_repeats_the_address(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    response = client.post("/aanmelden/", form_data(consent_texts["nl"]), follow=True)

    html = response.content.decode()
    assert "Bijna klaar" in html
    assert "noor@voorbeeld.nl" not in html


def test_resend_answers_the_same_for_known_and_unknown_addresses(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    known = SupporterFactory(email="bekend@voorbeeld.nl")

    known_page = client.post("/aanmelden/opnieuw/", {"email": "BEKEND@voorbeeld.nl"})
    unknown_page = client.post("/aanmelden/opnieuw/", {"email": "onbekend@voorbeeld.nl"})

    assert known_page.status_code == unknown_page.status_code == 200
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert strip.sub("", known_page.content.decode()) == strip.sub(
        "", unknown_page.content.decode()
    )
    assert list(OutboxTask.objects.values_list("args", flat=True)) == [[known.pk]]


def test_resend_validates_and_honours_the_honeypot(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    SupporterFactory(email="bekend@voorbeeld.nl")

    invalid = client.post("/en/signup/send-again/", {"email": "nope"})
    bot = client.post("/aanmelden/opnieuw/", {"email": "bekend@voorbeeld.nl", "website": "x"})

    assert "An email address needs an @" in invalid.content.decode()
    assert "Check je inbox" in bot.content.decode()
    assert OutboxTask.objects.count() == 0


def test_signup_page_works_on_its_own(client: Client, consent_texts: dict[str, Any]) -> None:
    html = client.get("/aanmelden/").content.decode()

    assert '<h1 id="page-title">Aanmelden voor e-mail</h1>' in html
    assert 'name="email"' in html
