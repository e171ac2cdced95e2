"""Spam complaints (issue 14): feedback-loop reports (ARF) through the inbound route and Mailgun's
`complained` webhooks each suppress and unsubscribe the person and count against the email they
were about; ESP bounces reach the same counting as SMTP replies and DSNs. Real SMTP server (the
messages the reports return are the ones it received), real signed webhooks."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaign.models import Consent, ConsentText, Supporter
from mailing import services
from mailing.complaints import mailing_complaint_rate
from mailing.models import Bounce, Complaint, Delivery, Mailing, Suppression
from mailing.selectors import email_hash
from mailing.sending import deliveries_send
from tests.harness.smtp import SmtpServer
from tests.mailing.arf import (
    BOUNCE_SECRET,
    arf_report,
    mailgun_complained,
    mailgun_event,
    mailgun_failed,
    post_inbound,
)
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import MailingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def inbound_route(settings: Any) -> None:
    settings.MAILING_BOUNCE_SECRET = BOUNCE_SECRET


def _send(smtp_server: SmtpServer, count: int, consent_text: ConsentText) -> tuple[Mailing, dict]:
    """A mailing to `count` new supporters through the SMTP server; what it received, per
    recipient, and each recipient's ledger row."""
    supporters_bulk(count, text=consent_text)
    smtp_server.clear()
    mailing = MailingFactory()
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()
    ledger = list(Delivery.objects.filter(message__mailing=mailing).values_list("id", flat=True))
    deliveries_send(ledger)
    received = {r.rcpt_tos[0].lower(): r for r in smtp_server.wait_for(count)}
    return mailing, received


def _row(address: str) -> Delivery:
    return Delivery.objects.select_related("supporter").get(supporter__email__iexact=address)


def _unsubscribed(address: str) -> bool:
    supporter = Supporter.objects.get(email__iexact=address)
    return not Consent.objects.filter(supporter=supporter, withdrawn_at__isnull=True).exists()


def test_arf_reports_count_against_their_email_suppress_and_unsubscribe(
    consent_text: ConsentText, smtp_server: SmtpServer
) -> None:
    mailing, received = _send(smtp_server, 4, consent_text)
    verp, redacted, not_spam, untouched = sorted(received)
    client = Client()

    # A full report naming the recipient, the message returned whole: mapped by its VERP
    # Original-Mail-From.
    report = arf_report(received[verp].raw, mail_from=received[verp].mail_from, rcpt_to=verp)
    answer = post_inbound(client, report)
    assert answer.status_code == 200
    assert answer.json()["complaints"] == 1
    # The provider sends it again: counted once.
    assert post_inbound(client, report).json()["complaints"] == 0

    # Yahoo-style: recipient redacted, envelope sender rewritten, only the headers returned.
    # The returned Message-ID names the ledger row.
    post_inbound(
        client,
        arf_report(
            received[redacted].raw,
            mail_from="someone@relay.example.net",
            rcpt_to=None,
            headers_only=True,
        ),
    )
    # "Not spam" is no complaint.
    answer = post_inbound(
        client,
        arf_report(
            received[not_spam].raw,
            mail_from=received[not_spam].mail_from,
            rcpt_to=not_spam,
            feedback_type="not-spam",
        ),
    )
    assert answer.json()["complaints"] == 0

    complaints = dict(Complaint.objects.values_list("delivery_id", "source"))
    assert complaints == {_row(verp).pk: "arf", _row(redacted).pk: "arf"}
    suppressed = dict(Suppression.objects.values_list("email_hash", "reason"))
    assert suppressed == {email_hash(verp): "complaint", email_hash(redacted): "complaint"}
    assert _unsubscribed(verp)
    assert _unsubscribed(redacted)
    assert not _unsubscribed(not_spam)
    assert not _unsubscribed(untouched)
    # 2 of 4 delivered; too few delivered for the rate to be judged (nothing stops).
    rate = mailing_complaint_rate(mailing.pk)
    assert (rate.complaints, rate.delivered, rate.judged) == (2, 4, False)


def test_mailgun_complaints_and_bounces_map_to_their_ledger_rows(
    consent_text: ConsentText, smtp_server: SmtpServer, settings: Any
) -> None:
    settings.MAILING_BOUNCE_HARD_LIMIT = 3
    _, received = _send(smtp_server, 3, consent_text)
    complainer, hard, blocked = sorted(received)
    client = Client()

    # The complaint names its row through the metadata the ESP echoes; sent twice, counted once.
    for _ in range(2):
        event = mailgun_complained(complainer, delivery_id=_row(complainer).pk)
        assert mailgun_event(client, event).status_code == 200
    assert list(Complaint.objects.values_list("delivery_id", "source")) == [
        (_row(complainer).pk, "Mailgun")
    ]
    assert _unsubscribed(complainer)

    # A permanent "no such mailbox": hard, suppressed at once, counted against its row.
    failed = mailgun_failed(
        hard, delivery_id=_row(hard).pk, code=550, text="5.1.1 The email account does not exist"
    )
    mailgun_event(client, failed)
    mailgun_event(client, failed)  # Mailgun retrying its webhook
    assert list(
        Bounce.objects.filter(email_hash=email_hash(hard)).values_list(
            "kind", "delivery_id", "source"
        )
    ) == [("hard", _row(hard).pk, "Mailgun")]
    assert Suppression.objects.get(email_hash=email_hash(hard)).reason == "hard_bounce"

    # A policy block is a permanent failure, not a missing address: the third, each about an
    # email of its own (bounces.py's repetition rule), suppresses the address.
    first = _row(blocked).pk
    later = []
    for _ in range(2):
        mailing, _again = _send(smtp_server, 0, consent_text)
        later.append(
            Delivery.objects.get(message__mailing=mailing, supporter__email__iexact=blocked).pk
        )
    for delivery_id in [first, *later]:
        assert not Suppression.objects.filter(email_hash=email_hash(blocked)).exists()
        mailgun_event(
            client,
            mailgun_failed(
                blocked, delivery_id=delivery_id, code=554, text="5.7.1 Rejected by policy"
            ),
        )
    rows = Bounce.objects.filter(email_hash=email_hash(blocked))
    assert sorted(rows.values_list("delivery_id", flat=True)) == sorted([first, *later])
    assert set(rows.values_list("kind", flat=True)) == {"permanent"}
    assert Suppression.objects.get(email_hash=email_hash(blocked)).reason == "repeated_failures"


def test_a_complaint_without_a_known_email_still_suppresses_and_counts_by_address(
    consent_text: ConsentText, smtp_server: SmtpServer
) -> None:
    # An ESP complaint without our metadata (or a report without identifiers): credited to the
    # address's last email.
    mailing, received = _send(smtp_server, 2, consent_text)
    address = sorted(received)[0]
    mailgun_event(Client(), mailgun_complained(address.upper(), delivery_id=None))
    assert Complaint.objects.get().delivery_id == _row(address).pk
    assert mailing_complaint_rate(mailing.pk).complaints == 1
    # Someone we never mailed: suppressed all the same, counted against nothing.
    mailgun_event(Client(), mailgun_complained("vreemde@voorbeeld.nl", delivery_id=None))
    assert Suppression.objects.filter(email_hash=email_hash("vreemde@voorbeeld.nl")).exists()
    assert Complaint.objects.filter(delivery__isnull=True).count() == 1
