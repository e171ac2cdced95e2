"""The ESP transport: anymail's real Mailgun backend posting real HTTP to a Mailgun-speaking
server (esp_server.py), batches of several recipients per call, the same ledger semantics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from campaign.emails import preferences_url, unsubscribe_mailto, unsubscribe_url
from campaign.models import Supporter
from mailing import services
from mailing.models import Delivery, Mailing, Suppression
from mailing.selectors import email_hash
from mailing.sending import deliveries_send, personal_links
from mailing.tracking import click_base
from tests.factories import ConsentFactory, SupporterFactory
from tests.mailing.esp_server import API_KEY, EspServer
from tests.mailing.factories import MailingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def esp(settings: Any) -> Iterator[EspServer]:
    server = EspServer().start()
    settings.MAILING_TRANSPORT = "anymail"
    settings.MAILING_ESP_BATCH_SIZE = 3
    settings.MAILING_ESP_OPTIONS = {
        "api_key": API_KEY,
        "sender_domain": "savethechildren.example",
        "api_url": server.api_url,
    }
    yield server
    server.stop()


def _supporters(*specs: tuple[str, str, str]) -> list[Supporter]:
    """(email, first name, language) each, with a confirmed consent for stories."""
    return [
        ConsentFactory(supporter=SupporterFactory(email=e, first_name=n, language=lang)).supporter
        for e, n, lang in specs
    ]


def _send_due_mailing(**kwargs: Any) -> tuple[Mailing, list[int]]:
    mailing = MailingFactory(**kwargs)
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()  # fans out (the published tasks have no worker here)
    ids = list(
        Delivery.objects.filter(message__mailing=mailing)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return mailing, ids


def test_a_batch_goes_in_few_calls_and_each_recipient_gets_their_own_copy(
    esp: EspServer,
) -> None:
    # Given five consenting supporters, Dutch and English, and a mailing with an A/B subject
    people = _supporters(
        ("noor@voorbeeld.nl", "Noor", "nl"),
        ("daan@voorbeeld.nl", "Daan & Co", "nl"),
        ("emma@example.org", "Emma", "en"),
        ("sem@voorbeeld.nl", "Sem", "nl"),
        ("liv@voorbeeld.nl", "", "nl"),
    )
    _mailing, ids = _send_due_mailing(subject_b_nl="Een veilige plek voor Samira")

    # When one batch is sent through the ESP (3 recipients per call at most)
    outcome = deliveries_send(ids)

    # Then everyone is sent, in fewer calls than recipients, each call one version: the batch
    # goes version by version (language, then A/B half by supporter id), 3 recipients a call
    # at most, whatever order the rows were claimed in.
    assert outcome.sent == 5
    versions = sorted((p.language, p.pk % 2) for p in people)
    chunks = [versions[i : i + 3] for i in range(0, len(versions), 3)]
    assert len(esp.calls) == sum(len(set(chunk)) for chunk in chunks)
    assert 2 <= len(esp.calls) < 5
    assert all(len(call.values("to")) <= 3 for call in esp.calls)
    copies = {copy.to: copy for copy in esp.copies()}
    assert set(copies) == {p.email for p in people}
    rows = {d.supporter_id: d for d in Delivery.objects.filter(pk__in=ids)}
    for person in people:
        copy, row = copies[person.email], rows[person.pk]
        assert row.state == "sent"
        assert row.smtp_message_id == f"<ledger-{row.pk}@savethechildren.example>"
        # The personal parts are this person's, in both parts, escaped once in the HTML.
        name = person.first_name or "supporter"
        assert name in copy.text
        assert name.replace("&", "&amp;") in copy.html
        assert f"source={services.source_token(row.pk)}" in copy.text
        assert unsubscribe_url(person) in copy.html.replace("&amp;", "&")
        assert preferences_url(person) in copy.text
        # Headers a receiver and RFC 8058 ask for, per recipient where they differ.
        assert copy.headers["Message-Id"] == row.smtp_message_id
        assert copy.headers["List-Unsubscribe"] == (
            f"<{unsubscribe_url(person)}>, <{unsubscribe_mailto(person)}>"
        )
        assert copy.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert copy.headers["List-Id"]
        assert copy.custom["delivery"] == str(row.pk)  # comes back with tracking events
        # No envelope sender of our own (no VERP): the ESP keeps its Return-Path and reports
        # bounces and complaints by webhook, mapped back by that metadata (DESIGN.md).
        assert not {"sender", "return-path"} & {h.lower() for h in copy.headers}
        # The A/B split is the same as over SMTP: by supporter id (English falls back to the
        # Dutch B subject, having none of its own).
        variant = "B" if person.pk % 2 else "A"
        assert row.variant == variant
        a_subject = {"nl": "Samira vond een veilige plek", "en": "Samira found a safe place"}
        expected = "Een veilige plek voor Samira" if variant == "B" else a_subject[person.language]
        assert copy.subject == expected
    assert not any("%recipient" in c.text + c.html for c in copies.values())


def test_an_address_the_esp_refuses_fails_alone(esp: EspServer) -> None:
    # Given three recipients, one of them an address the ESP refuses
    _supporters(
        ("noor@voorbeeld.nl", "Noor", "nl"),
        ("kapot@voorbeeld.invalid", "Kapot", "nl"),
        ("sem@voorbeeld.nl", "Sem", "nl"),
    )
    _mailing, ids = _send_due_mailing()

    # When the batch is sent: the ESP answers 400 for the whole call
    outcome = deliveries_send(ids)

    # Then the others still go (one by one), and only the refused one fails and is suppressed
    assert (outcome.sent, outcome.failed) == (2, 1)
    assert sorted(c.to for c in esp.copies()) == ["noor@voorbeeld.nl", "sem@voorbeeld.nl"]
    refused = Delivery.objects.get(supporter__email="kapot@voorbeeld.invalid")
    assert (refused.state, refused.reason) == ("failed", "hard_bounce")
    assert refused.last_error.startswith("550")
    assert Suppression.objects.filter(email_hash=email_hash("kapot@voorbeeld.invalid")).exists()


def test_an_esp_outage_puts_rows_back_and_a_later_attempt_sends_them(
    esp: EspServer, settings: Any
) -> None:
    settings.MAILING_RETRY_BASE_SECONDS = 0
    _supporters(("noor@voorbeeld.nl", "Noor", "nl"), ("sem@voorbeeld.nl", "Sem", "nl"))
    _mailing, ids = _send_due_mailing()

    # The ESP is down for one call: nothing is lost, nothing marked sent
    esp.fail_next = 1
    first = deliveries_send(ids)
    assert (first.sent, first.released) == (0, 2)
    assert set(Delivery.objects.values_list("state", flat=True)) == {"queued"}
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {0}, "no reply, no attempt"

    # Throttled: the rows are retried later, counted as an attempt
    esp.throttle_next = 1
    second = deliveries_send(ids)
    assert second.retried == 2
    assert all(d.last_error.startswith("452") for d in Delivery.objects.all())

    # Back to normal: each sent exactly once
    third = deliveries_send(ids)
    assert third.sent == 2
    assert sorted(c.to for c in esp.copies()) == ["noor@voorbeeld.nl", "sem@voorbeeld.nl"]


def test_a_wrong_api_key_fails_loudly_and_loses_nothing(esp: EspServer, settings: Any) -> None:
    settings.MAILING_ESP_OPTIONS = {**settings.MAILING_ESP_OPTIONS, "api_key": "wrong"}
    _supporters(("noor@voorbeeld.nl", "Noor", "nl"))
    _mailing, ids = _send_due_mailing()

    with pytest.raises(Exception, match=r"401|Invalid private key"):
        deliveries_send(ids)

    assert Delivery.objects.get().state == "queued"
    assert esp.calls == []


def test_links_match_the_ones_campaign_builds() -> None:
    # The send path builds the links with one token per recipient; they must not drift from
    # campaign.emails, which the unsubscribe and preference views are written against.
    person = SupporterFactory(language="en")
    links = personal_links(person, language="en", delivery_id=7)
    assert links.unsubscribe_url == unsubscribe_url(person)
    assert links.unsubscribe_mailto == unsubscribe_mailto(person)
    assert links.preferences_url == preferences_url(person)
    assert links.donate_url.endswith(f"?source={services.source_token(7)}")
    assert links.click_base == click_base(7, "en")


def test_an_unknown_transport_stops_start_up_with_one_clear_line() -> None:
    env = {**os.environ, "MAILING_TRANSPORT": "carrier-pigeon"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "MAILING_TRANSPORT must be smtp or anymail" in result.stderr


def test_a_staff_test_send_goes_through_the_esp_too(esp: EspServer) -> None:
    from mailing.previews import send_test

    mailing = MailingFactory()
    message_id = send_test(mailing, to_address="redactie@savethechildren.example", language="nl")

    (copy,) = esp.copies()
    assert copy.to == "redactie@savethechildren.example"
    assert copy.subject.startswith("[TEST] ")
    assert copy.headers["Message-Id"] == message_id
    assert "Samira" in copy.text or mailing.story.title_nl in copy.text
    assert "<html" in copy.html
    assert not Delivery.objects.exists()  # a test send is not a send
