"""Every kind of email we send passes the same header check on the bytes a real SMTP server
received (issue 14): List-Unsubscribe raw as RFC 8058 writes it (never an encoded word),
List-Unsubscribe-Post, a Message-ID on MAILING_DOMAIN, a DKIM signature dkimpy verifies; donor
emails have an HTML part in the donor's language; story emails say when a story is
illustrative."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import dkim
import pytest
from django.utils import timezone

from campaign.data_links import data_link_send
from campaign.services import confirmation_send
from donations.models import DonorNotice, Frequency, NoticeKind
from donations.notices import notice_queue, notices_send
from donations.statements import statement_run_here
from mailing import services
from mailing.models import Delivery
from mailing.sending import deliveries_send
from tests.factories import (
    ConsentFactory,
    DonationFactory,
    RecurringDonationFactory,
    StoryFactory,
    SupporterFactory,
    TransactionFactory,
)
from tests.harness.smtp import Received, SmtpServer
from tests.mailing.factories import MailingFactory

pytestmark = pytest.mark.django_db

DOMAIN = "post.savethechildren.example"
SITE = "https://www.savethechildren.example"
MAILTO = "afmelden@savethechildren.example"
POSTAL = "Save the Children Nederland, Alexanderveld 5, 2585 DB Den Haag"
# RFC 8058 section 3.1: a bracketed https URI, a comma, a bracketed mailto URI.
RFC8058 = re.compile(r"^<(https://[^<>\s,]+)>, ?<(mailto:[^<>\s,]+)>$")
NOTICE_NL = "Dit is een illustratief verhaal"
NOTICE_EN = "This is an illustrative story"


@dataclass(frozen=True)
class Sent:
    kind: str
    raw: bytes
    to_supporter: bool
    # Where the one-click URL points: a supporter's own link, or (staff test sends) the site.
    unsubscribe_prefix: str = f"{SITE}/u/"


@pytest.fixture
def plan(settings: Any, smtp_server: SmtpServer, dkim_dns: Any) -> Any:
    settings.MAILING_DOMAIN = DOMAIN
    settings.SITE_URL = SITE
    settings.SUPPORTERS_UNSUBSCRIBE_MAILTO = MAILTO
    settings.MAILING_POSTAL_ADDRESS = POSTAL
    return dkim_dns


def _raw_header(raw: bytes, name: str) -> str | None:
    """The header as it stands on the wire, unfolded, encoded words left as they are."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = re.sub(r"\r\n[ \t]+", " ", head)
    for line in unfolded.split("\r\n"):
        key, _, value = line.partition(":")
        if key.lower() == name.lower():
            return value.strip()
    return None


def _one(smtp: SmtpServer, count: int) -> Received:
    received = smtp.wait_for(count)
    assert len(received) == count, [r.rcpt_tos for r in received]
    return received[-1]


def _check(sent: Sent, dnsfunc: Any) -> EmailMessage:
    raw, kind = sent.raw, sent.kind
    message_id = _raw_header(raw, "Message-ID")
    assert message_id is not None, kind
    assert re.fullmatch(rf"<[^@<>]+@{re.escape(DOMAIN)}>", message_id), (kind, message_id)
    unsubscribe = _raw_header(raw, "List-Unsubscribe")
    if sent.to_supporter:
        assert unsubscribe is not None, kind
        assert "=?" not in unsubscribe, (kind, unsubscribe)
        found = RFC8058.match(unsubscribe)
        assert found, (kind, unsubscribe)
        assert found[1].startswith(sent.unsubscribe_prefix), (kind, unsubscribe)
        assert found[2].startswith(f"mailto:{MAILTO}"), (kind, unsubscribe)
        assert _raw_header(raw, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click", kind
    else:
        assert unsubscribe is None, kind
    assert dkim.verify(raw, dnsfunc=dnsfunc), kind
    parsed = Received("", [], raw).message
    assert parsed["Reply-To"], kind
    return parsed


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_supporter_emails_pass_the_header_check(plan: Any, smtp_server: SmtpServer) -> None:
    # Given a new sign-up in each language, and a supporter asking for their data.
    sent: list[Sent] = []
    for count, language in enumerate(("nl", "en"), start=1):
        supporter = SupporterFactory(language=language, confirmation_nonce=f"n{language}")
        ConsentFactory(supporter=supporter, confirmed_at=None)
        assert confirmation_send(supporter_id=supporter.pk) == "confirm"
        received = _one(smtp_server, count)
        sent.append(Sent(f"confirm-{language}", received.raw, True))
    assert data_link_send(supporter_id=SupporterFactory().pk, purpose="export")
    sent.append(Sent("data-link", _one(smtp_server, 3).raw, True))

    # Then each passes; the signature breaks when a signed header is changed.
    languages = ["nl", "en", "nl"]
    for item, language in zip(sent, languages, strict=True):
        assert _check(item, plan)["Content-Language"] == language, item.kind
    tampered = sent[0].raw.replace(b"List-Unsubscribe: <", b"List-Unsubscribe: <x", 1)
    assert tampered != sent[0].raw
    assert not dkim.verify(tampered, dnsfunc=plan)


def test_donor_emails_pass_the_header_check_in_the_donors_language(
    plan: Any, smtp_server: SmtpServer
) -> None:
    # Given a supporter who gives once (in Dutch) and monthly, and a donor who is no supporter.
    supporter = SupporterFactory(language="nl")
    one_off = DonationFactory(supporter=supporter, amount=123456, language="nl")
    monthly = RecurringDonationFactory(supporter=supporter, language="en", amount=1500)
    first = DonationFactory(
        supporter=supporter, recurring=monthly, frequency=Frequency.MONTHLY, language="en"
    )
    stranger = DonationFactory(supporter=None, language="en", amount=2000)
    debit_at = int(datetime(2030, 3, 4, 9, tzinfo=UTC).timestamp())
    planned = [
        # (notice kind, key, owner, context, to a supporter, language, a phrase it must show)
        (NoticeKind.THANKS, "one-off", {"donation": one_off}, {}, True, "nl", "1.234,56"),
        (NoticeKind.THANKS, "monthly", {"donation": first}, {}, True, "en", "€25.00"),
        (NoticeKind.THANKS, "stranger", {"donation": stranger}, {}, False, "en", "€20.00"),
        (
            NoticeKind.PRE_DEBIT,
            "debit",
            {"recurring": monthly},
            {"amount": 1500, "debit_at": debit_at, "mandate_reference": "MANDAAT-1"},
            True,
            "en",
            "MANDAAT-1",
        ),
        (
            NoticeKind.PAYMENT_FAILED,
            "failed",
            {"recurring": monthly},
            {"attempt": 1, "amount": 1500},
            True,
            "en",
            "€15.00",
        ),
        (NoticeKind.LAPSED, "lapsed", {"recurring": monthly}, {}, True, "en", "stopped"),
        (NoticeKind.MANDATE_REVOKED, "revoked", {"recurring": monthly}, {}, True, "en", "mandate"),
    ]
    for kind, key, owner, context, *_ in planned:
        assert notice_queue(kind=kind, key=key, context=context, **owner)

    # When the sender runs.
    assert notices_send() == len(planned)
    received = smtp_server.wait_for(len(planned))

    # Then every notice passes, with an HTML part in the donor's language and the footer.
    by_id = {r.message["Message-ID"]: r for r in received}
    for kind, key, _owner, _context, to_supporter, language, phrase in planned:
        notice = DonorNotice.objects.get(key=f"{kind}:{key}")
        raw = by_id[f"<notice-{notice.pk}@{DOMAIN}>"].raw
        message = _check(Sent(f"{kind}:{key}", raw, to_supporter), plan)
        assert message["Content-Language"] == language, key
        html, text = _html(message), _text(message)
        for part in (html, text):
            assert phrase in part.replace("\xa0", " "), (key, phrase, part[:2000])
            assert "Alexanderveld 5, 2585 DB Den Haag" in part, key
        assert "#c8102e" in html, key  # the campaign's MJML frame and colour
        assert "<table" in html, key


def test_the_annual_statement_passes_the_header_check(plan: Any, smtp_server: SmtpServer) -> None:
    year = timezone.localdate().year - 1
    supporter = SupporterFactory(language="en")
    gift = DonationFactory(supporter=supporter, language="en", amount=5000)
    TransactionFactory(donation=gift, amount=5000, occurred_at=datetime(year, 6, 1, 12, tzinfo=UTC))

    statement_run_here(year=year)

    message = _check(Sent("statement", _one(smtp_server, 1).raw, True), plan)
    assert message["Content-Language"] == "en"
    assert "€50.00" in _html(message)
    assert "€50.00" in _text(message)
    assert any(part.get_content_type() == "application/pdf" for part in message.iter_attachments())


@pytest.mark.parametrize("illustrative", [True, False])
def test_story_emails_pass_the_header_check_and_say_when_a_story_is_illustrative(
    plan: Any, smtp_server: SmtpServer, illustrative: bool
) -> None:
    for language in ("nl", "en"):
        ConsentFactory(supporter=SupporterFactory(language=language))
    mailing = MailingFactory(story=StoryFactory(is_illustrative=illustrative))
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()
    ids = list(Delivery.objects.filter(message__mailing=mailing).values_list("id", flat=True))

    deliveries_send(ids)

    for item in smtp_server.wait_for(2):
        message = _check(Sent("story", item.raw, True), plan)
        assert message["List-Id"], "campaign mail carries List-Id"
        notice = NOTICE_NL if message["Content-Language"] == "nl" else NOTICE_EN
        for part in (_html(message), _text(message)):
            assert (notice in part) is illustrative, part[:3000]


def test_a_staff_test_send_passes_the_header_check(plan: Any, smtp_server: SmtpServer) -> None:
    from mailing.previews import send_test

    mailing = MailingFactory(story=StoryFactory(is_illustrative=True))

    message_id = send_test(mailing, to_address="redactie@savethechildren.example", language="nl")

    raw = _one(smtp_server, 1).raw
    # A test's links point at the site, never at anyone's own unsubscribe page.
    message = _check(Sent("staff-test", raw, True, unsubscribe_prefix=f"{SITE}/"), plan)
    assert message["Message-ID"] == message_id
    assert NOTICE_NL in _text(message)
