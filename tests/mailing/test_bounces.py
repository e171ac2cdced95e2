"""Bounce classification (enhanced code, reply text, repetition) and its use while sending,
against a real aiosmtpd server that answers RCPT as real servers do (issue 14, item 4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from campaign.models import ConsentText, Supporter
from config.embedded import free_port
from config.settings.email import mailer_from_url
from mailing import services
from mailing.bounces import Verdict, bounce_record, bounces_recent, classify
from mailing.models import Bounce, Delivery, Suppression
from mailing.selectors import email_hash
from mailing.sending import deliveries_send
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import MailingFactory

pytestmark = pytest.mark.django_db

HARD, PERMANENT, SOFT = Bounce.Kind.HARD, Bounce.Kind.PERMANENT, Bounce.Kind.SOFT


@pytest.mark.parametrize(
    ("code", "text", "status", "kind", "found"),
    [
        (550, "5.1.1 <a@b.nl>: Recipient address rejected: User unknown", "", HARD, "5.1.1"),
        (550, "5.1.10 Recipient address rejected: null MX", "", HARD, "5.1.10"),
        (550, "5.2.1 The email account that you tried to reach is disabled", "", HARD, "5.2.1"),
        (550, "No such user", "", HARD, ""),
        (550, "Requested action not taken: mailbox unavailable", "", HARD, ""),
        (553, "sorry, that recipient does not exist", "", HARD, ""),
        (550, "Unknown recipient", "", HARD, ""),
        (550, "Onbekende gebruiker", "", HARD, ""),
        (550, "Dit adres bestaat niet", "", HARD, ""),
        (554, "5.7.1 Message rejected by policy", "", PERMANENT, "5.7.1"),
        (550, "Message refused", "", PERMANENT, ""),
        (552, "5.2.2 Mailbox full", "", SOFT, "5.2.2"),
        (450, "4.2.2 mailbox full", "", SOFT, "4.2.2"),
        # A 4xx saying "mailbox unavailable" is a busy server, not a missing address.
        (450, "Requested mail action not taken: mailbox unavailable", "", SOFT, ""),
        # A DSN's own Status field wins over the code in its Diagnostic-Code.
        (None, "smtp; 550 5.7.1 blocked", "5.1.1", HARD, "5.1.1"),
        (None, "smtp; 452 4.2.2 over quota", "4.2.2", SOFT, "4.2.2"),
    ],
)
def test_classify(code: int | None, text: str, status: str, kind: str, found: str) -> None:
    assert classify(code, text, status=status) == Verdict(Bounce.Kind(kind), found)


def test_permanent_failures_repeated_within_the_window_suppress(settings: Any) -> None:
    settings.MAILING_BOUNCE_HARD_LIMIT = 3
    settings.MAILING_SOFT_BOUNCE_LIMIT = 0
    blocked = Verdict(PERMANENT, "5.7.1")
    # An old failure, outside the 30-day window, does not count.
    old = bounce_record(address="x@voorbeeld.nl", verdict=blocked, source="smtp", detail="old")
    Bounce.objects.update(created_at=timezone.now() - timedelta(days=31))
    outcomes = [
        bounce_record(address="X@voorbeeld.nl", verdict=blocked, source="smtp", detail="554")
        for _ in range(3)
    ]
    assert not old.suppressed
    assert [o.suppressed for o in outcomes] == [False, False, True]
    assert Suppression.objects.get().reason == Suppression.Reason.REPEATED_FAILURES
    # Soft bounces are counted, and with the limit 0 never suppress on their own.
    for _ in range(10):
        bounce_record(address="y@voorbeeld.nl", verdict=Verdict(SOFT, ""), source="dsn", detail="")
    assert bounces_recent("y@voorbeeld.nl") == {"hard": 0, "permanent": 0, "soft": 10}
    assert not Suppression.objects.filter(email_hash=email_hash("y@voorbeeld.nl")).exists()


def test_soft_bounces_suppress_at_their_own_limit(settings: Any) -> None:
    settings.MAILING_SOFT_BOUNCE_LIMIT = 4
    results = [
        bounce_record(address="z@voorbeeld.nl", verdict=Verdict(SOFT, ""), source="dsn", detail="")
        for _ in range(4)
    ]
    assert [r.suppressed for r in results] == [False, False, False, True]


class _Replies:
    """RCPT answered per address, as the real servers of the scenario would; others get 250."""

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 2.0.0 queued"


def _send_mailing() -> None:
    mailing = MailingFactory()
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()
    deliveries_send(
        list(Delivery.objects.filter(message__mailing=mailing).values_list("id", flat=True))
    )


def test_send_path_suppresses_550_without_enhanced_code_and_escalates_policy_blocks(
    consent_text: ConsentText, settings: Any
) -> None:
    settings.MAILING_BOUNCE_HARD_LIMIT = 3
    ids = supporters_bulk(3, text=consent_text)
    emails = dict(Supporter.objects.filter(pk__in=ids).values_list("pk", "email"))
    no_such_user, blocked, fine = (emails[i].lower() for i in ids)
    handler = _Replies(
        {no_such_user: "550 No such user", blocked: "554 5.7.1 Rejected by local policy"}
    )
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {"default": mailer_from_url(f"smtp://127.0.0.1:{port}")}
    try:
        _send_mailing()
        rows = {d.supporter.email.lower(): d for d in Delivery.objects.select_related("supporter")}
        assert (rows[no_such_user].state, rows[no_such_user].reason) == ("failed", "hard_bounce")
        assert (rows[blocked].state, rows[blocked].reason) == ("failed", "rejected")
        assert rows[fine].state == "sent"
        suppressed = set(Suppression.objects.values_list("email_hash", "reason"))
        assert suppressed == {(email_hash(no_such_user), "hard_bounce")}

        # The policy block again in two more mailings: the third failure suppresses.
        _send_mailing()
        assert not Suppression.objects.filter(email_hash=email_hash(blocked)).exists()
        _send_mailing()
    finally:
        controller.stop()
    assert Suppression.objects.get(email_hash=email_hash(blocked)).reason == "repeated_failures"
    assert bounces_recent(blocked)["permanent"] == 3
    # The suppressed address was not even tried in the later mailings.
    assert Delivery.objects.filter(supporter__email__iexact=no_such_user).count() == 1
