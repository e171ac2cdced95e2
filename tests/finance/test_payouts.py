"""Payout reconciliation (issue #7): what each payout settled is stored when Stripe reports it
reconciled, adds up to the payout, is flagged when it does not, and exports on its own."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command

from donations.models import PayoutLine
from donations.selectors import payout_reconciliation, payouts_reconciliation
from tests.finance.conftest import KnownLedger, as_row, cents, csv_rows, export

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_payout_adds_up_to_what_it_settled(known_ledger: KnownLedger) -> None:
    payout = known_ledger.payout
    # Every balance transaction Stripe settled is stored, the payout's own included.
    settled = {row[3] for row in known_ledger.expected}
    assert (
        set(
            PayoutLine.objects.filter(payout=payout["id"]).values_list(
                "balance_transaction", flat=True
            )
        )
        == settled
    )

    result = payout_reconciliation(payout["id"])

    assert (result.amount, result.settled, result.difference) == (
        payout["amount"],
        payout["amount"],
        0,
    )
    assert result.lines == len(settled) - 1
    assert not result.flagged
    today = known_ledger.today
    listed = payouts_reconciliation(since=today, until=today + timedelta(days=3))
    assert [r.payout for r in listed] == [payout["id"]]


def test_a_payout_that_does_not_add_up_is_flagged(known_ledger: KnownLedger) -> None:
    payout = known_ledger.payout
    # Given a settled line we never heard of (the rows are ours, not the ledger's).
    line = PayoutLine.objects.filter(payout=payout["id"], type="charge").first()
    assert line is not None
    PayoutLine.objects.filter(pk=line.pk).update(net=line.net + 1)

    result = payout_reconciliation(payout["id"])

    assert result.flagged
    assert result.difference == 1
    assert payout_reconciliation("po_unknown").flagged
    # Finance sees it on the command line too.
    out = io.StringIO()
    today = known_ledger.today
    period = ["--since", today.isoformat(), "--until", (today + timedelta(days=3)).isoformat()]
    call_command("reconcile_payouts", *period, stdout=out)
    assert f"{payout['id']}" in out.getvalue()
    assert "MISMATCH" in out.getvalue()
    assert out.getvalue().endswith("1 payouts, 1 flagged\n")


def test_export_of_one_payout_lists_what_it_settled(
    known_ledger: KnownLedger, tmp_path: Path
) -> None:
    payout = known_ledger.payout
    rows = csv_rows(export(tmp_path / "p.csv", "--payout", payout["id"]))

    assert Counter(as_row(r) for r in rows) == Counter(known_ledger.expected)
    assert sum(cents(r["net"]) for r in rows if r["kind"] != "payout") == payout["amount"]
    assert sum(cents(r["net"]) for r in rows) == 0
