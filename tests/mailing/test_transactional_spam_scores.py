"""The confirmation, data-link and donor emails score clean with SpamAssassin's local rules
(issue 14), scored on the bytes a real SMTP server received, DKIM-signed as in production."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone

from campaign.data_links import data_link_send
from campaign.services import confirmation_send
from donations.models import Frequency, NoticeKind
from donations.notices import notice_queue, notices_send
from donations.statements import statement_run_here
from tests.factories import (
    ConsentFactory,
    DonationFactory,
    RecurringDonationFactory,
    SupporterFactory,
    TransactionFactory,
)
from tests.harness.smtp import SmtpServer
from tests.mailing.test_spam_scores import LIMIT, _score

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_transactional_emails_score_below_one(
    settings: Any, smtp_server: SmtpServer, dkim_dns: Any
) -> None:
    settings.MAILING_POSTAL_ADDRESS = (
        "Save the Children Nederland, Alexanderveld 5, 2585 DB Den Haag"
    )
    # Given: a sign-up in each language, a data link, each donor notice and a statement.
    expected = 0
    for language in ("nl", "en"):
        supporter = SupporterFactory(language=language, confirmation_nonce=f"n{language}")
        ConsentFactory(supporter=supporter, confirmed_at=None)
        assert confirmation_send(supporter_id=supporter.pk) == "confirm"
        expected += 1
    assert data_link_send(supporter_id=SupporterFactory().pk, purpose="erase")
    expected += 1
    supporter = SupporterFactory(language="nl", first_name="Sanne")
    monthly = RecurringDonationFactory(supporter=supporter, language="nl", donor_name="Sanne")
    first = DonationFactory(supporter=supporter, recurring=monthly, frequency=Frequency.MONTHLY)
    one_off = DonationFactory(supporter=None, language="en", donor_name="")
    debit_at = int(datetime(2030, 3, 4, 9, tzinfo=UTC).timestamp())
    notices: list[tuple[NoticeKind, dict[str, Any], dict[str, Any]]] = [
        (NoticeKind.THANKS, {"donation": one_off}, {}),
        (NoticeKind.THANKS, {"donation": first}, {}),
        (
            NoticeKind.PRE_DEBIT,
            {"recurring": monthly},
            {"amount": 1500, "debit_at": debit_at, "mandate_reference": "MANDAAT-000001"},
        ),
        (NoticeKind.PAYMENT_FAILED, {"recurring": monthly}, {"attempt": 1, "amount": 1500}),
        (NoticeKind.LAPSED, {"recurring": monthly}, {}),
        (NoticeKind.MANDATE_REVOKED, {"recurring": monthly}, {}),
    ]
    for n, (kind, owner, context) in enumerate(notices):
        assert notice_queue(kind=kind, key=str(n), context=context, **owner)
    assert notices_send() == len(notices)
    expected += len(notices)
    year = timezone.localdate().year - 1
    TransactionFactory(donation=first, amount=2500, occurred_at=datetime(year, 5, 1, tzinfo=UTC))
    statement_run_here(year=year)
    expected += 1

    received = smtp_server.wait_for(expected)

    # Then: every one scores below the limit.
    assert len(received) == expected
    with ThreadPoolExecutor(max_workers=2) as pool:
        scores = list(pool.map(lambda item: _score(item.raw), received))
    for item, (score, details) in zip(received, scores, strict=True):
        assert score < LIMIT, (item.message["Subject"], details)
