"""Mailgun's webhooks through django-anymail, with Mailgun's real payload shapes (from anymail's
own tests of its Mailgun webhook) signed as Mailgun signs them: HMAC-SHA256 over timestamp +
token with the webhook signing key. ESPs we have not configured answer 404, not 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.conf import settings
from django.test import Client

from campaign.emails import unsubscribe_mailto
from campaign.models import SupporterAudit
from campaign.selectors import supporter_may_receive
from mailing.models import Enrollment, Suppression
from mailing.selectors import email_hash
from tests.factories import ConsentFactory, SupporterFactory
from tests.mailing.factories import EnrollmentFactory

pytestmark = pytest.mark.django_db
AUTH = "Basic " + base64.b64encode(b"anymail:development-only-secret").decode()
TRACKING = "/anymail/mailgun/tracking/"


def _signature(key: str) -> dict[str, str]:
    """Mailgun's signature block: https://documentation.mailgun.com/docs/mailgun/user-manual/
    webhooks/securing-webhooks/ (hex HMAC-SHA256 of timestamp followed by token)."""
    timestamp, token = str(int(time.time())), uuid.uuid4().hex + uuid.uuid4().hex[:18]
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def _post(client: Client, event_data: dict[str, Any], *, key: str | None = None) -> Any:
    payload = {
        "signature": _signature(key or settings.MAILGUN_WEBHOOK_SIGNING_KEY),
        "event-data": event_data,
    }
    return client.post(
        TRACKING,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": AUTH},
    )


def _failed(address: str, severity: str) -> dict[str, Any]:
    permanent = severity == "permanent"
    return {
        "event": "failed",
        "severity": severity,
        "reason": "bounce" if permanent else "generic",
        "recipient": address,
        "timestamp": 1764347634.389832,
        "log-level": "error" if permanent else "warn",
        "message": {
            "headers": {
                "to": address,
                "message-id": "d41.7@savethechildren.example",
                "from": "Save the Children <verhalen@savethechildren.example>",
                "subject": "Samira vond een veilige plek",
            },
        },
        "delivery-status": {
            "tls": True,
            "mx-host": "mx.voorbeeld.nl",
            "attempt-no": 1,
            "description": "" if permanent else "No MX for voorbeeld.nl",
            "session-seconds": 2.95,
            "utf8": True,
            "code": 550 if permanent else 498,
            "message": "5.1.1 The email account that you tried to reach does not exist"
            if permanent
            else "No MX for voorbeeld.nl",
            "certificate-verified": True,
        },
    }


def _complained(address: str) -> dict[str, Any]:
    return {
        "event": "complained",
        "id": "ncV2XwymRUKbPek_MIM-Gw",
        "timestamp": 1764347700.049634,
        "log-level": "warn",
        "recipient": address,
        "message": {
            "headers": {
                "to": address,
                "message-id": "d42.7@savethechildren.example",
                "from": "Save the Children <verhalen@savethechildren.example>",
                "subject": "Samira vond een veilige plek",
            },
        },
    }


def test_a_permanent_failure_suppresses_the_address_and_ends_sequences(client: Client) -> None:
    supporter = SupporterFactory(email="weg@voorbeeld.nl")
    enrollment = EnrollmentFactory(supporter=supporter)

    answers = [_post(client, _failed("Weg@voorbeeld.nl", "permanent")) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200]
    suppression = Suppression.objects.get()  # once, however often Mailgun tells us
    assert suppression.email_hash == email_hash("weg@voorbeeld.nl")
    assert suppression.reason == Suppression.Reason.HARD_BOUNCE
    assert suppression.detail.startswith("Mailgun")
    enrollment.refresh_from_db()
    assert enrollment.exit_reason == Enrollment.ExitReason.BOUNCED


def test_a_temporary_failure_changes_nothing(client: Client) -> None:
    response = _post(client, _failed("vol@voorbeeld.nl", "temporary"))

    assert response.status_code == 200
    assert not Suppression.objects.exists()


def test_a_complaint_suppresses_and_records_the_withdrawal(client: Client) -> None:
    consent = ConsentFactory(supporter=SupporterFactory(email="klacht@voorbeeld.nl"))

    response = _post(client, _complained("klacht@voorbeeld.nl"))

    assert response.status_code == 200
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    assert not supporter_may_receive(consent.supporter_id, consent.topic)
    assert SupporterAudit.objects.filter(supporter=consent.supporter).exists()


@pytest.mark.parametrize(
    ("key", "auth"),
    [
        ("not-the-signing-key", AUTH),  # signed with another key
        (None, "Basic " + base64.b64encode(b"anymail:guess").decode()),  # wrong basic auth
    ],
)
def test_a_wrong_signature_or_secret_is_refused(client: Client, key: str | None, auth: str) -> None:
    payload = {
        "signature": _signature(key or settings.MAILGUN_WEBHOOK_SIGNING_KEY),
        "event-data": _complained("klacht@voorbeeld.nl"),
    }
    ConsentFactory(supporter=SupporterFactory(email="klacht@voorbeeld.nl"))

    response = client.post(
        TRACKING,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": auth},
    )

    assert response.status_code == 400
    assert not Suppression.objects.exists()


def test_mail_to_the_unsubscribe_address_through_mailgun_unsubscribes(client: Client) -> None:
    consent = ConsentFactory(supporter=SupporterFactory(email="noor@voorbeeld.nl"))
    mailto = urlsplit(unsubscribe_mailto(consent.supporter))
    message = EmailMessage()
    message["From"] = "Noor <noor@voorbeeld.nl>"
    message["To"] = mailto.path
    message["Subject"] = unquote(parse_qs(mailto.query)["subject"][0])
    message["Message-ID"] = "<inbound-2@voorbeeld.nl>"
    message.set_content("")

    # Mailgun's "store and notify" route to a URL containing "mime": the raw message as body-mime.
    response = client.post(
        "/anymail/mailgun/inbound_mime/",
        data={"body-mime": message.as_string(), **_signature(settings.MAILGUN_WEBHOOK_SIGNING_KEY)},
        headers={"Authorization": AUTH},
    )

    assert response.status_code == 200
    assert not supporter_may_receive(consent.supporter_id, consent.topic)


@pytest.mark.parametrize(
    "path",
    [
        "/anymail/amazon_ses/tracking/",
        "/anymail/amazon_ses/inbound/",
        "/anymail/sendgrid/tracking/",
        "/anymail/mandrill/",
        "/anymail/resend/tracking/",
    ],
)
def test_esps_that_are_not_configured_answer_404(client: Client, path: str) -> None:
    response = client.post(
        path, data="{}", content_type="application/json", headers={"Authorization": AUTH}
    )

    assert response.status_code == 404
