"""Feedback-loop reports (ARF, RFC 5965) and Mailgun `complained` webhooks as the outside world
sends them, for the complaint tests. The ARF's shape follows RFC 5965's own example (appendix
B): a multipart/report with a human part, the message/feedback-report fields and the reported
message; providers that redact the recipient (Yahoo's CFL) leave Original-Rcpt-To out and
return only the headers (text/rfc822-headers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from email.utils import formatdate
from typing import Any

from django.conf import settings
from django.test import Client

BOUNCE_SECRET = "bounce-route-test-secret-0123456789"
_ANYMAIL_AUTH = "Basic " + base64.b64encode(b"anymail:development-only-secret").decode()


def arf_report(
    original: bytes,
    *,
    mail_from: str,
    rcpt_to: str | None,
    feedback_type: str = "abuse",
    headers_only: bool = False,
) -> bytes:
    """A provider's report about `original` (the raw message as it was received). `rcpt_to`
    None: the recipient redacted, as Yahoo does."""
    boundary = "part1_13d.2e68ed54_boundary"
    if headers_only:
        returned_type = "text/rfc822-headers"
        returned = original.split(b"\r\n\r\n", 1)[0].decode()
    else:
        returned_type = "message/rfc822"
        returned = original.decode()
    lines = [
        "From: <feedbackloop@fbl.mailbox.example>",
        f"Date: {formatdate()}",
        "Subject: FW: Samira vond een veilige plek",
        "To: <fbl@savethechildren.example>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=feedback-report;",
        f'     boundary="{boundary}"',
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="US-ASCII"',
        "Content-Transfer-Encoding: 7bit",
        "",
        "This is an email abuse report for an email message received from IP",
        f"192.0.2.1 on {formatdate()}.",
        "",
        f"--{boundary}",
        "Content-Type: message/feedback-report",
        "",
        f"Feedback-Type: {feedback_type}",
        "User-Agent: MailboxFBL/2.1",
        "Version: 1",
        f"Original-Mail-From: <{mail_from}>",
        *([f"Original-Rcpt-To: <{rcpt_to}>"] if rcpt_to else []),
        f"Arrival-Date: {formatdate()}",
        "Reporting-MTA: dns; mx.mailbox.example",
        "Source-IP: 192.0.2.1",
        "Authentication-Results: mx.mailbox.example;",
        "      spf=pass smtp.mailfrom=savethechildren.example",
        "Reported-Domain: savethechildren.example",
        "",
        f"--{boundary}",
        f"Content-Type: {returned_type}",
        "Content-Disposition: inline",
        "",
        returned.rstrip("\r\n"),
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def post_inbound(client: Client, raw: bytes) -> Any:
    """The MTA's pipe posting one received message to the inbound route (docs/operations.md)."""
    return client.post(
        "/mailing/bounces/",
        data=raw,
        content_type="message/rfc822",
        headers={"Authorization": f"Bearer {BOUNCE_SECRET}"},
    )


def mailgun_event(client: Client, event_data: dict[str, Any]) -> Any:
    """A tracking webhook signed as Mailgun signs it (HMAC-SHA256 over timestamp + token)."""
    key = settings.MAILGUN_WEBHOOK_SIGNING_KEY
    timestamp, token = str(int(time.time())), uuid.uuid4().hex + uuid.uuid4().hex[:18]
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    payload = {
        "signature": {"timestamp": timestamp, "token": token, "signature": digest},
        "event-data": event_data,
    }
    return client.post(
        "/anymail/mailgun/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": _ANYMAIL_AUTH},
    )


def mailgun_complained(address: str, *, delivery_id: int | None) -> dict[str, Any]:
    """Mailgun's `complained` event; user-variables echo the metadata sent with the message
    (mailing/esp.py sends {"delivery": <ledger id>} per recipient)."""
    return {
        "event": "complained",
        "id": uuid.uuid4().hex[:22],
        "timestamp": time.time(),
        "recipient": address,
        "recipient-domain": address.rsplit("@", 1)[1],
        "tags": [],
        "campaigns": [],
        "user-variables": {"delivery": str(delivery_id)} if delivery_id else {},
        "message": {"headers": {"message-id": f"{uuid.uuid4().hex}@savethechildren.example"}},
    }


def mailgun_failed(address: str, *, delivery_id: int, code: int, text: str) -> dict[str, Any]:
    """Mailgun's permanent `failed` event (a bounce the ESP gave up on)."""
    return {
        "event": "failed",
        "severity": "permanent",
        "reason": "bounce" if text.startswith("5.1.") else "generic",
        "id": uuid.uuid4().hex[:22],
        "timestamp": time.time(),
        "recipient": address,
        "log-level": "error",
        "user-variables": {"delivery": str(delivery_id)},
        "message": {"headers": {"message-id": f"{uuid.uuid4().hex}@savethechildren.example"}},
        "delivery-status": {
            "code": code,
            "message": text,
            "description": "",
            "attempt-no": 1,
            "mx-host": "mx.voorbeeld.nl",
        },
    }
