"""Bounces that come back after the relay accepted the mail (issue 14, item 4): a real aiosmtpd
relay accepts everything, each message leaves with its VERP envelope sender, and the relay's
DSNs (RFC 3464 multipart/report, shaped as Postfix's bounce daemon writes them) are posted raw
to the inbound bounce route."""

from __future__ import annotations

import io
import re
from email.utils import formatdate
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from campaign.models import ConsentText, Supporter
from mailing import services
from mailing.models import Bounce, Delivery, Mailing, Suppression
from mailing.selectors import email_hash
from mailing.sending import deliveries_send
from tests.harness.smtp import Received, SmtpServer
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import MailingFactory

pytestmark = pytest.mark.django_db

SECRET = "bounce-route-test-secret-0123456789"
BOUNCE_ADDRESS = "bounces@bounce.savethechildren.example"


@pytest.fixture(autouse=True)
def bounce_route(settings: Any) -> None:
    settings.MAILING_BOUNCE_ADDRESS = BOUNCE_ADDRESS
    settings.MAILING_BOUNCE_SECRET = SECRET
    settings.MAILING_BOUNCE_HARD_LIMIT = 3
    settings.MAILING_SOFT_BOUNCE_LIMIT = 0


def _send_mailing(smtp_server: SmtpServer) -> tuple[Mailing, dict[str, Received]]:
    """A mailing through the relay; what the relay received, per recipient."""
    smtp_server.clear()
    mailing = MailingFactory()
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()
    ledger = list(Delivery.objects.filter(message__mailing=mailing).values_list("id", flat=True))
    outcome = deliveries_send(ledger)
    received = smtp_server.wait_for(outcome.sent)
    return mailing, {item.rcpt_tos[0].lower(): item for item in received}


def postfix_dsn(
    received: Received, *, action: str, status: str, diagnostic: str, to: str | None = None
) -> bytes:
    """A DSN as Postfix's bounce(8) writes it for the message the relay took: sent to the
    message's envelope sender, the original's headers returned as text/rfc822-headers."""
    recipient = received.rcpt_tos[0]
    headers = received.raw.split(b"\r\n\r\n", 1)[0].decode()
    subject = (
        "Undelivered Mail Returned to Sender"
        if action == "failed"
        else "Delayed Mail (still being retried)"
    )
    boundary = "9B095B5ADSN.1701771020/relay.example.net"
    lines = [
        "Return-Path: <>",
        f"X-Original-To: {to or received.mail_from}",
        f"Delivered-To: {to or received.mail_from}",
        "Received: by relay.example.net (Postfix) id 9B095B5ADSN; " + formatdate(),
        f"Date: {formatdate()}",
        "From: MAILER-DAEMON@relay.example.net (Mail Delivery System)",
        f"Subject: {subject}",
        f"To: {to or received.mail_from}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f'\tboundary="{boundary}"',
        "Content-Transfer-Encoding: 7bit",
        "Message-Id: <20261205080000.9B095B5ADSN@relay.example.net>",
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is the mail system at host relay.example.net.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. It's attached below.",
        "",
        f"<{recipient}>: host mx.voorbeeld.nl[192.0.2.25] said: {diagnostic.split('; ', 1)[1]}",
        "    (in reply to RCPT TO command)",
        "",
        f"--{boundary}",
        "Content-Description: Delivery report",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; relay.example.net",
        "X-Postfix-Queue-ID: 4F1A52C0123",
        f"X-Postfix-Sender: rfc822; {received.mail_from}",
        f"Arrival-Date: {formatdate()}",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        f"Original-Recipient: rfc822;{recipient}",
        f"Action: {action}",
        f"Status: {status}",
        "Remote-MTA: dns; mx.voorbeeld.nl",
        f"Diagnostic-Code: {diagnostic}",
        *(["Will-Retry-Until: " + formatdate()] if action == "delayed" else []),
        "",
        f"--{boundary}",
        "Content-Description: Undelivered Message Headers",
        "Content-Type: text/rfc822-headers",
        "",
        headers,
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def _post(raw: bytes, *, token: str = SECRET) -> Any:
    return Client().post(
        "/mailing/bounces/",
        data=raw,
        content_type="message/rfc822",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_relay_dsns_suppress_hard_count_soft_and_escalate_repeats(
    consent_text: ConsentText, smtp_server: SmtpServer
) -> None:
    ids = supporters_bulk(5, text=consent_text)
    emails = dict(Supporter.objects.filter(pk__in=ids).values_list("pk", "email"))
    hard, soft, no_such_user, blocked, fine = (emails[i].lower() for i in ids)
    mailing, received = _send_mailing(smtp_server)
    assert set(received) == {hard, soft, no_such_user, blocked, fine}, "the relay took them all"

    # Each message's envelope sender names its own ledger row.
    rows = {
        d.supporter.email.lower(): d
        for d in Delivery.objects.filter(message__mailing=mailing).select_related("supporter")
    }
    for address, item in received.items():
        assert re.fullmatch(
            rf"bounces\+{rows[address].pk}-[0-9a-f]{{16}}@bounce\.savethechildren\.example",
            item.mail_from,
        ), item.mail_from

    dsns = {
        hard: dict(
            action="failed",
            status="5.1.1",
            diagnostic=f"smtp; 550 5.1.1 <{hard}>: Recipient address rejected: User unknown in "
            "local recipient table",
        ),
        soft: dict(action="delayed", status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full"),
        # No enhanced code from the remote: Postfix reports 5.0.0 and passes the text on.
        no_such_user: dict(action="failed", status="5.0.0", diagnostic="smtp; 550 No such user"),
        blocked: dict(
            action="failed", status="5.7.1", diagnostic="smtp; 554 5.7.1 Rejected by policy"
        ),
    }
    for address, fields in dsns.items():
        response = _post(postfix_dsn(received[address], **fields))
        assert response.status_code == 200, response.content
    # The same DSN again (an MTA retrying its post) counts once.
    assert _post(postfix_dsn(received[soft], **dsns[soft])).json()["counted"] == 0

    suppressed = dict(Suppression.objects.values_list("email_hash", "reason"))
    assert suppressed == {email_hash(hard): "hard_bounce", email_hash(no_such_user): "hard_bounce"}
    kinds = dict(Bounce.objects.values_list("delivery__supporter__email", "kind"))
    assert {a.lower(): k for a, k in kinds.items()} == {
        hard: "hard",
        soft: "soft",
        no_such_user: "hard",
        blocked: "permanent",
    }

    # The policy block twice more, in later mailings: the third suppresses. The last DSN lost
    # its VERP address on the way (an MTA rewrote it): the returned Message-ID still maps it.
    for attempt in (2, 3):
        _, later = _send_mailing(smtp_server)
        assert hard not in later, "suppressed: not tried"
        assert no_such_user not in later, "suppressed: not tried"
        to = "postmaster@bounce.savethechildren.example" if attempt == 3 else None
        _post(postfix_dsn(later[blocked], **dsns[blocked], to=to))
    assert Suppression.objects.get(email_hash=email_hash(blocked)).reason == "repeated_failures"
    mapped = Bounce.objects.filter(email_hash=email_hash(blocked)).values_list(
        "delivery", flat=True
    )
    assert len(set(mapped) - {None}) == 3, "each DSN mapped to its own ledger row"
    assert not Suppression.objects.filter(email_hash__in=[email_hash(soft), email_hash(fine)])


def test_route_refuses_without_secret_wrong_token_and_oversize(settings: Any) -> None:
    dsn = b"From: MAILER-DAEMON@relay.example.net\r\nSubject: hello\r\n\r\nnot a DSN\r\n"
    assert _post(dsn, token="wrong").status_code == 403
    answer = _post(dsn)
    assert answer.status_code == 200
    assert answer.json() == {
        "dsn": False,
        "counted": 0,
        "suppressed": 0,
        "complaints": 0,
    }
    assert Client().get("/mailing/bounces/").status_code == 405
    settings.MAILING_BOUNCE_MAX_BYTES = 10_000
    assert _post(b"x" * 10_001).status_code == 413
    settings.MAILING_BOUNCE_SECRET = ""
    assert _post(dsn).status_code == 404


def test_receive_bounce_command_reads_a_dsn_from_stdin(
    consent_text: ConsentText, smtp_server: SmtpServer, monkeypatch: Any
) -> None:
    # What a Postfix pipe(8) transport does: the message on the command's standard input.
    (supporter_id,) = supporters_bulk(1, text=consent_text)
    address = Supporter.objects.get(pk=supporter_id).email.lower()
    _, received = _send_mailing(smtp_server)
    raw = postfix_dsn(
        received[address],
        action="failed",
        status="5.1.1",
        diagnostic=f"smtp; 550 5.1.1 <{address}>: User unknown",
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    out = io.StringIO()
    call_command("receive_bounce", stdout=out)
    assert out.getvalue().strip() == "dsn=True counted=1 suppressed=1 complaints=0"
    assert Suppression.objects.get(email_hash=email_hash(address)).reason == "hard_bounce"
