"""Finance's background work in the crawl, followed to its end as a person would: start an
export, watch its page until the download link shows, click it and read the file; start an
annual statements run and watch it finish. A real Celery worker does the work (test_crawl.py).

What a file should hold is computed here from the crawl database's rows (the scenario's plan),
never by the export code: the header is the documented column list, the rows are the ledger
rows booked in the period."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from django.db.models import Q, Sum
from django.utils import timezone
from playwright.sync_api import expect

from donations.models import PayoutLine, Transaction, TransactionKind
from tests.backoffice.conftest import admin_url
from tests.e2e.crawl import Crawler

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# The transaction export's columns, in order (DESIGN.md's finance export contract).
LEDGER_HEADER = [
    "booking_date",
    "transaction_id",
    "kind",
    "donation_id",
    "frequency",
    "method",
    "channel",
    "donor_name",
    "donor_email",
    "gross",
    "fee",
    "net",
    "currency",
    "stripe_payment_intent",
    "stripe_charge",
    "stripe_balance_transaction",
    "stripe_payout",
    "campaign",
    "source",
]
PAYOUT_HEADER = [
    *LEDGER_HEADER,
    "reconciliation",
    "stripe_type",
    "stripe_gross",
    "stripe_fee",
    "stripe_net",
]
WORK_SECONDS = 90  # a worker on a machine busy with two crawls


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=AMSTERDAM)


def ledger_in(since: date, until: date) -> list[tuple[int, int]]:
    """(id, gross cents) of the ledger rows booked from `since` to `until` (included), in
    booking order."""
    rows = Transaction.objects.filter(
        occurred_at__gte=_day_start(since), occurred_at__lt=_day_start(until + timedelta(days=1))
    ).order_by("occurred_at", "id")
    return list(rows.values_list("id", "amount"))


def wait_until_done(crawl: Crawler, label: str) -> None:
    """The page's own progress bar says done (it polls; the person only waits)."""
    bar = crawl.page.get_by_test_id("progress")
    expect(bar).to_have_attribute("data-state", "done", timeout=WORK_SECONDS * 1000)
    crawl.check(label)


def download(crawl: Crawler, label: str) -> Path:
    """Click the job page's download link; the file is kept beside the screenshots."""
    page = crawl.page
    link = page.locator("#export-download a")
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    saved = crawl.artifacts / f"{label}-{info.value.suggested_filename}"
    info.value.save_as(saved)
    return saved


def csv_rows(path: Path, dialect: str) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (dialect == "nl"), "Dutch Excel needs the BOM"
    text = raw.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";" if dialect == "nl" else ","))


def money(text: str, dialect: str) -> int:
    """Cents from a CSV amount (Dutch dialect: decimal comma)."""
    value = Decimal(text.replace(",", ".") if dialect == "nl" else text)
    return int(value * 100)


def start_export(crawl: Crawler, since: date, until: date, fmt: str, dialect: str) -> None:
    page = crawl.page
    crawl.open(admin_url("finance/exports/"))
    page.fill("#id_since", since.isoformat())
    page.fill("#id_until", until.isoformat())
    page.select_option("#id_format", fmt)
    page.select_option("#id_dialect", dialect)
    with page.expect_navigation(wait_until="load"):
        page.locator("#export-form button[type=submit]").click()
    crawl.check(f"export {fmt} started")


def transaction_exports(crawl: Crawler) -> None:
    """A CSV (in the language's own dialect) and an XLSX of the last two months, each checked
    row by row against the ledger."""
    until = timezone.localdate()
    since = until - timedelta(days=60)
    expected = ledger_in(since, until)
    assert len(expected) >= 3, "the crawl's world books gifts in the period"
    dialect = "nl" if crawl.language == "nl" else "default"

    start_export(crawl, since, until, "csv", dialect)
    wait_until_done(crawl, "export csv done")
    rows = csv_rows(download(crawl, "transactions"), dialect)
    assert rows[0] == LEDGER_HEADER
    index, gross = LEDGER_HEADER.index("transaction_id"), LEDGER_HEADER.index("gross")
    assert [(int(r[index]), money(r[gross], dialect)) for r in rows[1:]] == expected

    start_export(crawl, since, until, "xlsx", dialect)
    wait_until_done(crawl, "export xlsx done")
    book = openpyxl.load_workbook(download(crawl, "transactions"), read_only=True)
    cells = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    assert cells[0] == LEDGER_HEADER
    assert [(int(r[index]), round(Decimal(str(r[gross])) * 100)) for r in cells[1:]] == expected


def payout_export(crawl: Crawler, payout: str) -> None:
    """A payout's settlement CSV: one row per balance transaction the payout settled or a
    ledger row names, matched or not."""
    page = crawl.page
    settled = PayoutLine.objects.filter(payout=payout)
    lines = set(settled.values_list("balance_transaction", flat=True))
    ledger = Transaction.objects.filter(
        Q(stripe_payout=payout) | Q(stripe_balance_transaction__in=lines)
    )
    booked = set(
        ledger.exclude(stripe_balance_transaction="").values_list(
            "stripe_balance_transaction", flat=True
        )
    )
    expected_rows = ledger.count() + len(lines - booked)
    assert expected_rows, "the crawl's world has a payout"

    crawl.open(admin_url(f"finance/payouts/{payout}/"))
    with page.expect_navigation(wait_until="load"):
        page.locator("form button[name=format][value=csv]").first.click()
    crawl.check("payout export started")
    wait_until_done(crawl, "payout export done")
    rows = csv_rows(download(crawl, "payout"), "default")
    assert rows[0] == PAYOUT_HEADER
    column = PAYOUT_HEADER.index("stripe_balance_transaction")
    assert len(rows) - 1 == expected_rows
    assert {r[column] for r in rows[1:]} >= lines


def monthly_summary(crawl: Crawler) -> None:
    """The month the crawl's gifts fall in: its gifts' gross total is on the page."""
    page = crawl.page
    month = timezone.localdate() - timedelta(days=41)
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    gifts = Transaction.objects.filter(
        kind=TransactionKind.GIFT,
        occurred_at__gte=_day_start(first),
        occurred_at__lt=_day_start(following),
    ).aggregate(total=Sum("amount"))["total"]
    assert gifts, "the crawl's world books gifts that month"
    crawl.open(admin_url("finance/summary/"))
    field = page.locator("#summary-month input[name=month], #summary-month select[name=month]")
    field.first.fill(first.strftime("%Y-%m"))
    with page.expect_navigation(wait_until="load"):
        page.locator("#summary-month button[type=submit]").click()
    crawl.check("summary")
    shown = f"{gifts / 100:,.2f}"
    if crawl.language == "nl":
        shown = shown.replace(",", " ").replace(".", ",").replace(" ", ".")
    # The total row's first money column: the gifts.
    expect(page.locator("#summary-total td").nth(1)).to_contain_text(shown)


def statements_run(crawl: Crawler) -> None:
    """An annual statements run, sent by the worker; its page's bar reaches done."""
    page = crawl.page
    crawl.open(admin_url("donations/statementrun/add/"))
    with page.expect_navigation(wait_until="load"):
        page.locator("#statement-run-form button[type=submit]").click()
    wait_until_done(crawl, "statements sent")
