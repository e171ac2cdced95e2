"""Transaction exports (issue #7): a ledger built through real webhook deliveries comes out to
the cent in CSV and XLSX, LibreOffice reads the same figures, totals match the monthly
summary and the payout, an erased donor shows only as a pseudonym."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from backoffice.roles import FINANCE, MARKETING
from donations.exports import AMSTERDAM, LEDGER_COLUMNS
from donations.selectors import monthly_summary
from tests.factories import UserFactory
from tests.finance.conftest import (
    ERASED_EMAIL,
    ERASED_NAME,
    KnownLedger,
    as_row,
    cents,
    csv_rows,
    export,
)
from tests.staff import verified_client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
HEADERS = [column.header for column in LEDGER_COLUMNS]


def _period(ledger: KnownLedger) -> list[str]:
    """Today and the next days: a payout is booked on its arrival date (the money is
    available two days on, and the payout arrives two days after that)."""
    since = ledger.today
    return ["--since", since.isoformat(), "--until", (since + timedelta(days=5)).isoformat()]


def _month(ledger: KnownLedger) -> list[str]:
    first = ledger.today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return ["--since", first.isoformat(), "--until", last.isoformat()]


def test_csv_export_matches_the_ledger_to_the_cent(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    # When finance exports today as CSV.
    path = export(tmp_path / "t.csv", *_period(known_ledger), "--format", "csv")

    # Then every ledger movement is a row, with Stripe's own figures and ids.
    rows = csv_rows(path)
    assert list(rows[0]) == HEADERS
    assert Counter(as_row(r) for r in rows) == Counter(known_ledger.expected)
    # Refunds and lost disputes are negative; money has a dot and two decimals.
    assert all(cents(r["gross"]) < 0 for r in rows if r["kind"] in {"refund", "dispute", "payout"})
    assert {r["gross"].rsplit(".", 1)[-1].__len__() for r in rows} == {2}
    # Gift rows name their donation, its frequency, method and donor.
    by_intent = {d.stripe_payment_intent: d for d in known_ledger.donations.values()}
    for row in rows:
        donation = by_intent.get(row["stripe_payment_intent"])
        if donation is None:
            assert row["kind"] == "payout"
            continue
        assert row["donation_id"] == str(donation.uuid)
        assert row["method"] == donation.method
        assert row["frequency"] == ("recurring" if donation.frequency == "monthly" else "one-off")
        assert row["donor_email"] == donation.donor_email
        assert row["currency"] == "EUR"
        assert row["booking_date"] == known_ledger.today.isoformat()
    payout = known_ledger.payout
    arrival = datetime.fromtimestamp(payout["arrival_date"], tz=UTC).astimezone(AMSTERDAM)
    assert [r["booking_date"] for r in rows if r["kind"] == "payout"] == [str(arrival.date())]
    card = known_ledger.donations["card"]
    assert {r["campaign"] for r in rows if r["donation_id"] == str(card.uuid)} == {"voorjaar"}


def test_xlsx_export_has_numeric_euro_cells_with_the_same_figures(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    path = export(tmp_path / "t.xlsx", *_period(known_ledger), "--format", "xlsx")

    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == HEADERS
    records = [dict(zip(HEADERS, row, strict=True)) for row in values[1:]]
    assert Counter(as_row(r) for r in records) == Counter(known_ledger.expected)
    gross = HEADERS.index("gross") + 1
    for cell in next(sheet.iter_cols(min_col=gross, max_col=gross + 2, min_row=2)):
        assert cell.data_type == "n"
        assert "€" in cell.number_format
    date_cell = sheet.cell(row=2, column=1)
    assert date_cell.is_date


def test_libreoffice_reads_the_xlsx_as_the_same_figures(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    path = export(tmp_path / "t.xlsx", *_period(known_ledger), "--format", "xlsx")
    out = tmp_path / "lo"
    profile = tmp_path / "lo-profile"
    # Field 9 (false): cell values, not as shown, so no euro sign or thousands separator.
    target = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false"
    subprocess.run(
        [
            "libreoffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(out),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    rows = list(csv.DictReader(io.StringIO((out / "t.csv").read_text("utf-8"))))
    assert Counter(as_row(r) for r in rows) == Counter(known_ledger.expected)


def test_export_totals_equal_the_monthly_summary_and_the_payout(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    rows = csv_rows(export(tmp_path / "m.csv", *_month(known_ledger)))
    summary = monthly_summary(known_ledger.today.year, known_ledger.today.month)

    def total(kinds: set[str], column: str = "gross") -> int:
        return sum(cents(r[column]) for r in rows if r["kind"] in kinds)

    money = {"gift", "refund", "dispute", "dispute_won", "fee"}
    assert summary.total("gifts") == total({"gift"}) > 0
    assert summary.total("refunds") == total({"refund"}) < 0
    assert summary.total("disputes") == total({"dispute", "dispute_won"}) < 0
    assert summary.total("fees") == total(money, "fee") - total({"fee"})
    assert summary.total("net") == total(money, "net")
    assert summary.total("net") == (
        summary.total("gifts")
        + summary.total("refunds")
        + summary.total("disputes")
        - summary.total("fees")
    )
    # Per method, channel and campaign too.
    for line in summary.lines:
        key = (line.method, line.channel, line.campaign)
        mine = [r for r in rows if (r["method"], r["channel"], r["campaign"]) == key]
        assert line.net == sum(cents(r["net"]) for r in mine if r["kind"] != "payout")
    # The payout pays out exactly the net of what it settled (booked on its arrival date).
    payout = known_ledger.payout
    rows = csv_rows(export(tmp_path / "p.csv", *_period(known_ledger)))
    settled = [r for r in rows if r["stripe_payout"] == payout["id"] and r["kind"] != "payout"]
    assert sum(cents(r["net"]) for r in settled) == payout["amount"]
    assert [-cents(r["gross"]) for r in rows if r["kind"] == "payout"] == [payout["amount"]]


def test_an_erased_donor_appears_only_by_pseudonym(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    call_command("supporter_erase", ERASED_EMAIL, stdout=io.StringIO())
    erased = known_ledger.donations["erased"]
    erased.refresh_from_db()

    for fmt in ("csv", "xlsx"):
        path = export(tmp_path / f"e.{fmt}", *_period(known_ledger), "--format", fmt)
        if fmt == "xlsx":
            content = "\n".join(
                str(v)
                for row in openpyxl.load_workbook(path).active.iter_rows(values_only=True)  # type: ignore[union-attr]
                for v in row
            )
        else:
            content = path.read_text("utf-8")
        assert ERASED_EMAIL not in content.lower()
        assert ERASED_NAME not in content
        assert erased.donor_name.startswith("anon-")
        assert erased.donor_name in content


def test_dutch_dialect_uses_semicolons_and_decimal_commas(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    path = export(tmp_path / "nl.csv", *_period(known_ledger), "--dialect", "nl")

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel's cue that the file is UTF-8
    rows = csv_rows(path, dialect="nl")
    assert Counter(as_row(r) for r in rows) == Counter(known_ledger.expected)
    assert all("," in r["gross"] and "." not in r["gross"] for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-03-01", "--until", "2026-02-01"], "before it starts"),
        (["--since", "2026-03-01"], "both --since and --until"),
        (["--until", "2026-03-01"], "both --since and --until"),
        (["--since", "2026-3-1x", "--until", "2026-03-01"], "YYYY-MM-DD"),
        (["--since", "2026-03-01", "--until", "2026-03-01", "--format", "pdf"], "unknown format"),
        (["--since", "2026-03-01", "--until", "2026-03-01", "--dialect", "fr"], "unknown dialect"),
    ],
)
def test_bad_input_gives_a_clear_message(args: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("export_transactions", *args, "--output", str(tmp_path / "x"))


def test_an_empty_period_gives_only_the_header_row(tmp_path: Path) -> None:
    period = ["--since", "2001-01-01", "--until", "2001-01-31"]
    rows = export(tmp_path / "e.csv", *period).read_text("utf-8").splitlines()
    assert rows == [",".join(HEADERS)]
    sheet = openpyxl.load_workbook(export(tmp_path / "e.xlsx", *period, "--format", "xlsx")).active
    assert sheet is not None
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [HEADERS]


def test_the_source_a_gift_came_with_is_named_from_the_gift_itself(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    # Given a gift that came through an email's donate link and one from an Instagram post
    # (which email brought a gift is mailing's results to say: its tables are not read here).
    from donations.models import Donation

    by_email, by_post = known_ledger.donations["ideal"], known_ledger.donations["card"]
    Donation.objects.filter(pk=by_email.pk).update(source_token="signed.delivery.token")
    Donation.objects.filter(pk=by_post.pk).update(
        utm={"utm_source": "instagram", "utm_campaign": "voorjaar"}
    )

    rows = csv_rows(export(tmp_path / "a.csv", *_period(known_ledger)))

    sources = {r["donation_id"]: (r["source"], r["campaign"]) for r in rows if r["kind"] == "gift"}
    assert sources[str(by_email.uuid)][0] == "email"
    assert sources[str(by_post.uuid)] == ("instagram", "voorjaar")
    others = [r for r in rows if r["donation_id"] not in {str(by_email.uuid), str(by_post.uuid)}]
    assert {r["source"] for r in others} == {""}
    assert "story" not in rows[0]


def test_the_file_goes_to_stdout_without_output(tmp_path: Path) -> None:
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    period = ["--since", "2001-01-01", "--until", "2001-01-31"]

    call_command("export_transactions", *period, stdout=stdout)

    stdout.flush()
    assert stdout.buffer.getvalue().decode() == ",".join(HEADERS) + "\n"  # type: ignore[attr-defined]


def test_a_terminal_gets_a_progress_bar(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    period = ["--since", "2001-01-01", "--until", "2001-01-31"]

    export(tmp_path / "p.csv", *period)

    assert "100%" in terminal.getvalue()
    assert terminal.getvalue().endswith("0 rows exported\n")


def test_the_back_office_summary_shows_the_export_totals_to_the_cent(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    rows = csv_rows(export(tmp_path / "s.csv", *_month(known_ledger)))
    finance = UserFactory()
    finance.groups.add(Group.objects.get(name=FINANCE))
    month = known_ledger.today.strftime("%Y-%m")
    page = verified_client(finance).get(f"/{settings.ADMIN_PATH}finance/summary/", {"month": month})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="summary-total"' in html, html[-3000:]
    total_row = html.split('id="summary-total"')[1].split("</tr>")[0]
    # Dutch pages: "€ 1.262,25" (a non-breaking space, a thousands dot, a decimal comma).
    shown = [
        f"{sign}{number.replace('.', '')}"
        for sign, number in re.findall(r">€\xa0(-?)(\d{1,3}(?:\.\d{3})*,\d\d)<", total_row)
    ]
    assert len(shown) == 6, total_row
    money = {"gift", "refund", "dispute", "dispute_won", "fee"}
    gifts = sum(cents(r["gross"]) for r in rows if r["kind"] == "gift")
    net = sum(cents(r["net"]) for r in rows if r["kind"] in money)
    assert cents(shown[0]) == gifts
    assert cents(shown[4]) == net
    # Payment methods by their names, never Stripe's codes.
    methods = re.findall(r'<td class="px-3 py-2">([^<]*)</td>', html)
    assert "iDEAL" in methods
    assert not {"ideal", "card", "sepa_debit"} & set(methods)

    marketing = UserFactory()
    marketing.groups.add(Group.objects.get(name=MARKETING))
    summary_url = f"/{settings.ADMIN_PATH}finance/summary/"
    assert verified_client(marketing).get(summary_url).status_code == 403
