"""Rendering, headers, SpamAssassin, SMTP replies and DST: the send path run in this process
against real SMTP servers (the worker-process tests are in test_reliability.py)."""

from __future__ import annotations

import re
import subprocess
from datetime import date, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from campaign.models import ConsentText
from config.settings.email import mailer_from_url
from mailing import services
from mailing.models import Delivery, Mailing, Suppression
from mailing.selectors import email_hash, mailing_progress
from mailing.sending import deliveries_send
from tests.factories import ConsentFactory, SupporterFactory
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import MailingFactory
from tests.mailing.sink import SinkProcess

pytestmark = pytest.mark.django_db


def _due_mailing(**kwargs: Any) -> Mailing:
    mailing = MailingFactory(**kwargs)
    return services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())


def _fan_out() -> None:
    """The real tick: it also publishes send tasks, which no worker consumes in these tests
    (each test process has its own Redis database); the batch is sent here instead."""
    services.mailing_tick()


def _ledger_ids(mailing: Mailing) -> list[int]:
    return list(
        Delivery.objects.filter(message__mailing=mailing)
        .order_by("id")
        .values_list("id", flat=True)
    )


def test_message_has_rfc8058_headers_text_part_and_passes_spamassassin(smtp_server: Any) -> None:
    # Given a consenting Dutch and an English supporter and a story mailing due now
    for language, name in (("nl", "Noor"), ("en", "Emma")):
        ConsentFactory(supporter=SupporterFactory(language=language, first_name=name))
    mailing = _due_mailing(subject_b_nl="Een veilige plek voor Samira")
    _fan_out()

    # When the batch is sent
    outcome = deliveries_send(_ledger_ids(mailing))

    # Then both arrive, with every header a receiver and RFC 8058 ask for
    assert outcome.sent == 2
    received = smtp_server.wait_for(2)
    for item in received:
        message = item.message
        ledger_id = Delivery.objects.get(supporter__email=item.rcpt_tos[0]).pk
        assert message["Message-ID"] == f"<ledger-{ledger_id}@savethechildren.example>"
        unsubscribe = message["List-Unsubscribe"]
        assert re.fullmatch(r"<https://[^>]+/u/[^>]+/>,\s*<mailto:[^>]+>", unsubscribe)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Id"]
        assert message["Reply-To"]
        assert message["From"]
        assert message["Date"]
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        page = message.get_body(("html",)).get_content()
        assert mailing.story.title_nl in text or mailing.story.title_en in text
        assert "source=" in text
        assert "source=" in page
        # The HTML carries the personal parts too, escaped once.
        assert ("Noor" in page and "Noor" in text) or ("Emma" in page and "Emma" in text)
        # SpamAssassin with local tests only (no network), under 2.0.
        report = subprocess.run(
            ["spamassassin", "-L", "-t"], input=item.raw, capture_output=True, timeout=120
        ).stdout.decode(errors="replace")
        score = float(re.search(r"X-Spam-Status: \w+, score=(-?[\d.]+)", report).group(1))
        assert score < 2.0, report[-3000:]
    assert mailing_progress(mailing.pk)["sent"] == 2


def test_4xx_is_retried_later_and_5xx_fails_and_suppresses(
    consent_text: ConsentText, settings: Any, tmp_path: Any
) -> None:
    ids = supporters_bulk(3, text=consent_text)
    from campaign.models import Supporter

    emails = dict(Supporter.objects.filter(pk__in=ids).values_list("pk", "email"))
    temporary, bounced, fine = (emails[i] for i in ids)
    sink = SinkProcess(tmp_path / "sink.log", "--tempfail", f"{temporary}:1", "--bounce", bounced)
    sink.start()
    try:
        settings.MAILERS = {"default": mailer_from_url(sink.url)}
        mailing = _due_mailing()
        _fan_out()

        first = deliveries_send(_ledger_ids(mailing))
        assert (first.sent, first.retried, first.failed) == (1, 1, 1)
        rows = {d.supporter.email: d for d in Delivery.objects.select_related("supporter")}
        assert rows[temporary].state == "queued"
        assert rows[temporary].last_error.startswith("451")
        assert rows[temporary].next_attempt_at is not None
        assert (rows[bounced].state, rows[bounced].reason) == ("failed", "hard_bounce")
        assert Suppression.objects.filter(email_hash=email_hash(bounced)).exists()

        # The next tick re-publishes the retried row once its time has come; it is sent.
        second = deliveries_send([rows[temporary].pk])
        assert second.sent == 1
        assert sorted(a for a, _ in sink.lines()) == sorted([fine, temporary])
        services.mailing_tick()
        mailing.refresh_from_db()
        assert mailing.state == "finished"

        # A later mailing never even creates a row for the suppressed address.
        later = _due_mailing()
        _fan_out()
        assert not Delivery.objects.filter(
            message__mailing=later, supporter__email=bounced
        ).exists()
    finally:
        sink.stop()


def test_unsubscribe_after_ledger_creation_is_skipped_at_send(smtp_server: Any) -> None:
    from campaign.services import supporter_unsubscribe

    consent = ConsentFactory()
    mailing = _due_mailing()
    _fan_out()
    assert Delivery.objects.filter(message__mailing=mailing).count() == 1

    supporter_unsubscribe(supporter_id=consent.supporter_id, method="one_click", actor="supporter")
    outcome = deliveries_send(_ledger_ids(mailing))

    assert outcome.sent == 0
    assert outcome.skipped == {"no_consent": 1}
    assert smtp_server.messages == []
    assert Delivery.objects.get().reason == "no_consent"


@pytest.mark.parametrize(
    ("day", "expected_utc_hour"),
    [(date(2026, 3, 29), 1), (date(2026, 10, 25), 0)],
    ids=["spring-forward", "fall-back"],
)
def test_0230_on_a_dst_change_day_fires_exactly_once(
    day: date, expected_utc_hour: int, consent_text: ConsentText
) -> None:
    supporters_bulk(5, text=consent_text)
    send_at = services.local_send_time(day, time(2, 30))
    assert send_at.astimezone(timezone.UTC).hour == expected_utc_hour
    mailing = services.mailing_schedule(mailing_id=MailingFactory().pk, send_at=send_at)

    # Ticks every 10 minutes from 00:00 to 05:00 local time, across the change.
    start = timezone.make_aware(
        timezone.datetime.combine(day, time(0, 0)), timezone.get_default_timezone()
    )
    fired = []
    for step in range(31):
        result = services.mailing_tick(start + timedelta(minutes=10 * step))
        fired.extend(result.mailings)
    assert fired == [mailing.pk]
    assert Delivery.objects.filter(message__mailing=mailing).count() == 5


def test_messages_carry_a_dkim_signature_that_verifies(smtp_server: Any, dkim_dns: Any) -> None:
    # Given a DKIM key (what production would read from MAILING_DKIM_KEY_FILE)
    ConsentFactory(supporter=SupporterFactory(language="nl"))
    mailing = _due_mailing()
    _fan_out()

    # When the batch is sent
    assert deliveries_send(_ledger_ids(mailing)).sent == 1

    # Then the receiver can verify the signature against the published key, and it covers
    # the one-click unsubscribe headers.
    import dkim

    raw = smtp_server.wait_for(1)[0].raw
    assert dkim.verify(raw, dnsfunc=dkim_dns)
    signature = smtp_server.messages[0].message["DKIM-Signature"]
    assert "list-unsubscribe-post" in signature.lower()
    # A changed header breaks it: the check above is a real one.
    assert not dkim.verify(raw.replace(b"Subject: ", b"Subject: X", 1), dnsfunc=dkim_dns)
