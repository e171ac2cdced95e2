"""The CSV export counts rows, not line ends: a value may hold a newline (a donor's name typed
over two lines), and both the command's total and the background job's progress must still
be the number of ledger rows."""

from __future__ import annotations

import csv
import io

import pytest

from donations.exports import Renderer, TransactionsExporter
from tests.finance.ledger_rows import FIRST_DAY, LAST_DAY, ledger_rows

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 5_000
TWO_LINE_NAME = "Anna\nde Vries"


def test_rows_with_a_newline_in_a_value_are_counted_once_each() -> None:
    from donations.models import Donation

    ledger_rows(ROWS, donations=10)
    Donation.objects.update(donor_name=TWO_LINE_NAME)
    reported: list[int] = []
    out = io.BytesIO()

    rows = Renderer(
        TransactionsExporter(since=FIRST_DAY, until=LAST_DAY), progress=reported.append
    ).render("csv", out)

    assert rows == ROWS
    assert reported[-1] == ROWS
    assert reported == sorted(reported)
    records = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert len(records) == ROWS
    assert {record["donor_name"] for record in records} == {TWO_LINE_NAME}
    # More line ends than rows: a count of newlines would have said otherwise.
    assert out.getvalue().count(b"\n") == 1 + 2 * ROWS
