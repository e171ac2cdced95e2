"""Annual statements (issue #7): gifts paid at the fake Stripe and delivered by real signed
webhooks; each donor's PDF (read back with pdftotext) lists exactly their kept gifts of the
year; a run sends them through a real Celery worker to a real SMTP server, once per donor."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import formats, timezone, translation

from backoffice.roles import FINANCE, MARKETING
from devstripe.server import FakeStripe
from donations import statements
from donations.inbox import inbox_drain
from donations.models import AnnualStatement, Donation, StatementRun, StatementRunState
from donations.templatetags.donations import euros
from tests.backoffice.conftest import admin_url
from tests.donations.gifts import paid_gift
from tests.factories import UserFactory
from tests.harness.smtp import SmtpServer
from tests.staff import verified_client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ANNE = "Anne.Jaaroverzicht@Voorbeeld.nl"
BEN = "ben.statement@example.org"
AMOUNT = re.compile(r"€\s?[\d.,]+")


def staff_client(role: str) -> Client:
    """A staff member holding `role`, logged in with a verified second factor."""
    user = UserFactory()
    user.groups.add(Group.objects.get(name=role))
    return verified_client(user)


@dataclass
class Year:
    year: int
    anne: list[Donation]  # her kept gifts of this year, in order
    partial: Donation  # one of them, partly refunded
    other_year: Donation
    refunded: Donation
    ben: Donation


def _charge(fake: FakeStripe, donation: Donation) -> str:
    charge = fake.get(donation.stripe_payment_intent)["latest_charge"]
    return charge if isinstance(charge, str) else charge["id"]


def _back_to(year: int) -> int:
    """Seconds from now back to the middle of `year`, for the fake account's clock."""
    return int((timezone.now() - datetime(year, 7, 1, 12, tzinfo=UTC)).total_seconds())


@pytest.fixture
def gifts(fake_stripe: FakeStripe, live_server: Any) -> Year:
    # Statements are made for a year that has ended: last year's gifts, and one the year before.
    year = timezone.localdate().year - 1
    fake_stripe.advance_time(-_back_to(year - 1))
    other_year = paid_gift(fake_stripe, live_server, amount=7777, email=ANNE, name="Anne")
    fake_stripe.advance_time(_back_to(year - 1) - _back_to(year))
    first = paid_gift(fake_stripe, live_server, amount=2500, email=ANNE, name="Anne de Vries")
    second = paid_gift(fake_stripe, live_server, amount=1000, email=ANNE.lower(), name="Anne")
    partial = paid_gift(fake_stripe, live_server, amount=4000, email=ANNE, name="Anne de Vries")
    refunded = paid_gift(fake_stripe, live_server, amount=3000, email=ANNE, name="Anne de Vries")
    ben = paid_gift(
        fake_stripe, live_server, amount=5000, email=BEN, name="Ben Baker", language="en"
    )
    fake_stripe.refund(_charge(fake_stripe, partial), amount=1234)
    fake_stripe.refund(_charge(fake_stripe, refunded))
    fake_stripe.wait_for_deliveries()
    inbox_drain()
    fake_stripe.advance_time(_back_to(year))
    return Year(
        year=year,
        anne=[first, second, partial],
        partial=partial,
        other_year=other_year,
        refunded=refunded,
        ben=ben,
    )


def pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"statement-{time.monotonic_ns()}.pdf"
    path.write_bytes(content)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return out.replace("\xa0", " ")


def amounts(text: str) -> list[str]:
    return [a.replace("\xa0", " ") for a in AMOUNT.findall(text)]


def shown(cents: int, language: str) -> str:
    with translation.override(language):
        return euros(cents).replace("\xa0", " ")


def test_the_pdf_lists_exactly_the_donors_kept_gifts_of_the_year_in_dutch(
    gifts: Year, tmp_path: Path
) -> None:
    statement = statements.donor_statement(year=gifts.year, email=ANNE.upper())

    text = pdf_text(statements.statement_pdf(statement), tmp_path)

    # Her three gifts of the year, the partly refunded one at what was kept, then the total;
    # not last year's gift, not the refunded one, nothing of Ben's.
    kept = [2500, 1000, 4000 - 1234]
    assert amounts(text) == [shown(c, "nl") for c in [*kept, sum(kept)]]
    for donation in gifts.anne:
        with translation.override("nl"):
            day = formats.date_format(timezone.localdate(donation.created_at), "DATE_FORMAT")
        assert day in text
    assert f"Je giften in {gifts.year}" in text
    assert "Totaal" in text
    assert "gedeeltelijk terugbetaald" in text
    assert settings.CHARITY_NAME in text.replace("\n", " ")
    assert f"RSIN {settings.CHARITY_RSIN}" in text
    assert "ANBI" in text
    assert "Anne de Vries" in text


def test_the_pdf_speaks_the_donors_language(gifts: Year, tmp_path: Path) -> None:
    statement = statements.donor_statement(year=gifts.year, email=BEN)

    text = pdf_text(statements.statement_pdf(statement), tmp_path)

    assert amounts(text) == [shown(5000, "en"), shown(5000, "en")]
    assert f"Your gifts in {gifts.year}" in text
    assert "Total" in text
    assert "Totaal" not in text
    assert "public benefit organisation (ANBI)" in text.replace("\n", " ")


def test_last_years_statement_has_only_last_years_gift(gifts: Year, tmp_path: Path) -> None:
    statement = statements.donor_statement(year=gifts.year - 1, email=ANNE)

    text = pdf_text(statements.statement_pdf(statement), tmp_path)

    assert amounts(text) == [shown(7777, "nl"), shown(7777, "nl")]


def _wait_for_run(run: StatementRun, timeout: float = 60) -> StatementRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.state in (StatementRunState.DONE, StatementRunState.FAILED):
            return run
        time.sleep(0.2)
    raise TimeoutError(f"run {run.pk} still {run.state} ({run.done}/{run.total})")


def test_a_run_emails_each_donor_once_with_the_pdf_through_the_mail_queue(
    gifts: Year,
    smtp_server: SmtpServer,
    celery_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    celery_worker(EMAIL_URL=smtp_server.url)
    client = staff_client(FINANCE)

    # When finance starts the run for this year in the back office.
    answer = client.post(admin_url("donations/statementrun/add/"), {"year": gifts.year})
    assert answer.status_code == 302
    run = StatementRun.objects.get()
    run = _wait_for_run(run)

    # Then each donor got one email, in their language, with their PDF attached.
    assert (run.state, run.done, run.total) == (StatementRunState.DONE, 2, 2)
    messages = smtp_server.wait_for(2)
    by_rcpt = {m.rcpt_tos[0]: m.message for m in messages}
    assert sorted(by_rcpt) == sorted([ANNE.lower(), BEN])
    anne = by_rcpt[ANNE.lower()]
    assert "jaaroverzicht" in str(anne["Subject"]).lower()
    (attachment,) = list(anne.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"jaaroverzicht-{gifts.year}.pdf"
    text = pdf_text(attachment.get_content(), tmp_path)
    assert amounts(text)[-1] == shown(2500 + 1000 + 4000 - 1234, "nl")
    ben = by_rcpt[BEN]
    assert str(ben["Subject"]) == f"Your annual statement of gifts {gifts.year}"
    assert next(ben.iter_attachments()).get_filename() == f"annual-statement-{gifts.year}.pdf"
    sent = AnnualStatement.objects.get(donor_email=ANNE.lower())
    assert anne["Message-ID"] == sent.message_id
    # The progress JSON the page polls says so too.
    progress = client.get(admin_url(f"donations/statementrun/{run.pk}/progress/")).json()
    assert progress == {
        "done": 2,
        "total": 2,
        "state": "done",
        "finished": True,
        "label": progress["label"],
    }
    page = client.get(admin_url(f"donations/statementrun/{run.pk}/change/")).content.decode()
    assert 'data-progress-url="' in page

    # And a second run for the year sends nobody anything.
    client.post(admin_url("donations/statementrun/add/"), {"year": gifts.year})
    second = _wait_for_run(StatementRun.objects.order_by("-pk").first() or run)
    assert second.pk != run.pk
    assert (second.state, second.done, second.total) == (StatementRunState.DONE, 2, 2)
    time.sleep(1)
    assert len(smtp_server.messages) == 2


def test_a_rerun_in_process_resumes_without_repeating(gifts: Year, smtp_server: SmtpServer) -> None:
    # A run that stopped after one statement (a worker that died) ...
    run = StatementRun.objects.create(year=gifts.year)
    batches = statements.statement_run_prepare(run_id=run.pk, send=False)
    first_id = batches[0][0]
    assert statements.statement_send(statement_id=first_id)
    statements.statement_run_failed(run_id=run.pk, error="worker lost")

    # ... is resumed by the command: only the other donor is emailed.
    call_command("annual_statements", "--year", str(gifts.year), "--send")

    assert len(smtp_server.messages) == 2
    assert len({m.rcpt_tos[0] for m in smtp_server.messages}) == 2
    assert not statements.statement_send(statement_id=first_id)  # already sent: nothing
    assert len(smtp_server.messages) == 2


def test_bad_years_are_refused_with_a_clear_message() -> None:
    client = staff_client(FINANCE)
    this_year = timezone.localdate().year

    # Next year, and this year too: a year is stated once, after it has ended.
    for year in (this_year + 1, this_year):
        answer = client.post(admin_url("donations/statementrun/add/"), {"year": year})
        assert answer.status_code == 200
        assert f"Kies een jaar dat voorbij is, van 2000 tot en met {this_year - 1}" in (
            answer.content.decode()
        )
    assert not StatementRun.objects.exists()
    with pytest.raises(statements.StatementError):
        statements.statement_run_start(year=1999)


def test_marketing_gets_403_on_the_statement_pages() -> None:
    run = StatementRun.objects.create(year=2025, state=StatementRunState.DONE)
    statement = AnnualStatement.objects.create(run=run, year=2025, donor_email="x@voorbeeld.nl")
    urls = [
        "donations/statementrun/",
        "donations/statementrun/add/",
        f"donations/statementrun/{run.pk}/change/",
        f"donations/statementrun/{run.pk}/progress/",
        "donations/annualstatement/",
        f"donations/annualstatement/{statement.pk}/pdf/",
    ]
    marketing = staff_client(MARKETING)
    finance = staff_client(FINANCE)

    assert {u: marketing.get(admin_url(u)).status_code for u in urls} == dict.fromkeys(urls, 403)
    assert marketing.post(admin_url(urls[1]), {"year": 2025}).status_code == 403
    assert StatementRun.objects.count() == 1
    assert {u: finance.get(admin_url(u)).status_code for u in urls} == dict.fromkeys(urls, 200)
