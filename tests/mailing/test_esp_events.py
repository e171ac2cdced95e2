"""The ESP's webhooks through django-anymail (Postmark's real payload shapes): bounces and
complaints suppress the address; mail to the unsubscribe address unsubscribes."""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.test import Client

from campaign.emails import unsubscribe_mailto
from campaign.selectors import supporter_may_receive
from mailing.models import Enrollment, Suppression
from mailing.selectors import email_hash
from tests.factories import ConsentFactory, SupporterFactory
from tests.mailing.factories import EnrollmentFactory

pytestmark = pytest.mark.django_db
AUTH = "Basic " + base64.b64encode(b"anymail:development-only-secret").decode()


def _post(client: Client, path: str, payload: dict[str, Any], *, auth: str = AUTH) -> Any:
    return client.post(
        path,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": auth},
    )


def _bounce(address: str, kind: str = "HardBounce", record: str = "Bounce") -> dict[str, Any]:
    return {
        "RecordType": record,
        "Type": kind,
        "TypeCode": 1,
        "ID": 4323372036854775807,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": address,
        "BouncedAt": "2026-11-28T16:33:54Z",
        "Description": "The server was unable to deliver",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Samira vond een veilige plek",
    }


def test_a_hard_bounce_suppresses_the_address_and_ends_sequences(client: Client) -> None:
    supporter = SupporterFactory(email="weg@voorbeeld.nl")
    enrollment = EnrollmentFactory(supporter=supporter)

    answers = [
        _post(client, "/anymail/postmark/tracking/", _bounce("Weg@voorbeeld.nl")) for _ in range(2)
    ]

    assert [a.status_code for a in answers] == [200, 200]
    suppression = Suppression.objects.get()  # once, however often the ESP tells us
    assert suppression.email_hash == email_hash("weg@voorbeeld.nl")
    assert suppression.reason == Suppression.Reason.HARD_BOUNCE
    enrollment.refresh_from_db()
    assert enrollment.exit_reason == Enrollment.ExitReason.BOUNCED


def test_a_soft_bounce_changes_nothing(client: Client) -> None:
    _post(client, "/anymail/postmark/tracking/", _bounce("vol@voorbeeld.nl", kind="Transient"))

    assert not Suppression.objects.exists()


def test_a_spam_complaint_suppresses_and_withdraws_consent(client: Client) -> None:
    consent = ConsentFactory(supporter=SupporterFactory(email="klacht@voorbeeld.nl"))

    _post(
        client,
        "/anymail/postmark/tracking/",
        _bounce("klacht@voorbeeld.nl", kind="SpamComplaint", record="SpamComplaint"),
    )

    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    assert not supporter_may_receive(consent.supporter_id, consent.topic)


def test_webhooks_without_the_shared_secret_are_refused(client: Client) -> None:
    bad = "Basic " + base64.b64encode(b"anymail:guess").decode()

    response = _post(client, "/anymail/postmark/tracking/", _bounce("x@voorbeeld.nl"), auth=bad)

    assert response.status_code == 400
    assert not Suppression.objects.exists()


def _inbound(to: str, subject: str) -> dict[str, Any]:
    message = EmailMessage()
    message["From"] = "Noor <noor@voorbeeld.nl>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<inbound-1@voorbeeld.nl>"
    message.set_content("")
    return {
        "FromFull": {"Email": "noor@voorbeeld.nl", "Name": "Noor"},
        "ToFull": [{"Email": to, "Name": ""}],
        "Subject": subject,
        "TextBody": "",
        "Headers": [],
        "MessageID": "a8c1040e-db1c-4e18-ac79-bc5f64c7ce2c",
        "Date": "Sat, 28 Nov 2026 17:00:00 +0100",
        "RawEmail": message.as_string(),
    }


def test_mail_to_the_unsubscribe_address_unsubscribes(client: Client) -> None:
    consent = ConsentFactory(supporter=SupporterFactory(email="noor@voorbeeld.nl"))
    mailto = urlsplit(unsubscribe_mailto(consent.supporter))
    subject = unquote(parse_qs(mailto.query)["subject"][0])

    response = _post(client, "/anymail/postmark/inbound/", _inbound(mailto.path, subject))

    assert response.status_code == 200
    assert not supporter_may_receive(consent.supporter_id, consent.topic)


def test_mail_with_a_forged_token_changes_nothing(client: Client) -> None:
    consent = ConsentFactory(supporter=SupporterFactory(email="noor@voorbeeld.nl"))

    _post(
        client,
        "/anymail/postmark/inbound/",
        _inbound("afmelden@voorbeeld.nl", f"unsubscribe {consent.supporter_id}:forged"),
    )

    assert supporter_may_receive(consent.supporter_id, consent.topic)
