"""January at scale (issue 17): fonts parsed once per process, a run's progress counted by
increments (no recount of the year per batch), every donor emailed once."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from donations import pdf, statements
from donations.models import StatementRun, StatementRunState
from donations.statements import DonorStatement, StatementGift
from tests.factories import DonationFactory, TransactionFactory
from tests.harness.smtp import SmtpServer


def _text(content: bytes, path: Path) -> str:
    path.write_bytes(content)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return out.replace("\xa0", " ")


def _statement(name: str, *amounts: int) -> DonorStatement:
    received = datetime(2025, 3, 14, 12, tzinfo=UTC)
    gifts = [StatementGift(received, a, 0, "eur", "ideal", "monthly") for a in amounts]
    return DonorStatement(year=2025, email="x@voorbeeld.nl", name=name, gifts=gifts)


def test_fonts_are_parsed_once_and_each_document_draws_only_its_own_text(
    tmp_path: Path,
) -> None:
    pdf._parse.cache_clear()

    greek = statements.statement_pdf(_statement("Ωmega Ødegård", 1250, 2500))
    plain = statements.statement_pdf(_statement("Anne de Vries", 700))
    greek_again = statements.statement_pdf(_statement("Ωmega Ødegård", 1250, 2500))

    info = pdf._parse.cache_info()
    # One parse; each document asks twice (its copy of the fonts, its subset when written).
    assert (info.misses, info.hits) == (1, 3 * 2 - 1)
    greek_text = _text(greek, tmp_path / "greek.pdf")
    plain_text = _text(plain, tmp_path / "plain.pdf")
    assert "Ωmega Ødegård" in greek_text
    assert "€ 37,50" in greek_text  # the total
    assert "Anne de Vries" in plain_text
    assert "€ 7,00" in plain_text
    assert "Ωmega" not in plain_text
    # Each document embeds the glyphs it used, however many came before it.
    assert len(plain) < len(greek)
    assert _text(greek_again, tmp_path / "again.pdf") == greek_text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_counts_its_progress_by_batch_and_emails_each_donor_once(
    smtp_server: SmtpServer, settings: Any
) -> None:
    settings.STATEMENT_BATCH_SIZE = 2
    year = timezone.localdate().year - 1
    donors = [f"donor{n}@voorbeeld.nl" for n in range(5)]
    for email in donors:
        for month in (3, 9):
            TransactionFactory(
                donation=DonationFactory(donor_email=email.upper()),
                occurred_at=datetime(year, month, 10, 12, tzinfo=UTC),
            )
    progress: list[tuple[int, int]] = []
    batch_queries: list[list[str]] = []

    def on_batch(run: StatementRun) -> None:
        progress.append((run.done, run.total))

    with CaptureQueriesContext(connection) as queries:
        run = statements.statement_run_here(year=year, on_batch=on_batch)
        batch_queries.append([q["sql"] for q in queries.captured_queries])

    assert progress == [(2, 5), (4, 5), (5, 5)]
    assert (run.state, run.done, run.total) == (StatementRunState.DONE, 5, 5)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == donors
    # The year's statements are counted twice in all (when prepared, and the command's final
    # check), never once per batch.
    year_counts = [
        sql
        for sql in batch_queries[0]
        if "COUNT(" in sql and "donations_annualstatement" in sql and '"year" =' in sql
    ]
    assert len(year_counts) == 2 * 2  # each recount counts held and sent


@pytest.mark.django_db(transaction=True)
def test_a_statement_refunded_in_full_since_preparing_leaves_the_total(
    smtp_server: SmtpServer,
) -> None:
    year = timezone.localdate().year - 1
    kept = TransactionFactory(
        donation=DonationFactory(donor_email="blijft@voorbeeld.nl"),
        occurred_at=datetime(year, 5, 1, 12, tzinfo=UTC),
    )
    gone = TransactionFactory(
        donation=DonationFactory(donor_email="weg@voorbeeld.nl"),
        occurred_at=datetime(year, 5, 1, 12, tzinfo=UTC),
    )
    run = StatementRun.objects.create(year=year)
    (batch,) = statements.statement_run_prepare(run_id=run.pk, send=False)
    TransactionFactory(
        donation=gone.donation,
        kind="refund",
        amount=-gone.amount,
        fee=0,
        occurred_at=timezone.now(),
    )

    assert statements.statement_batch_send(run_id=run.pk, statement_ids=batch) == 1

    run.refresh_from_db()
    assert (run.state, run.done, run.total) == (StatementRunState.DONE, 1, 1)
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == [kept.donation.donor_email]


def test_the_common_font_cuts_the_same_subset_as_the_whole_font() -> None:
    """A document in Latin letters has its subset cut from the small common font (the speed-up
    of issue 17): what it embeds must be what cutting from the whole font gives, glyph ids too."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    def cut(data: bytes, glyphs: list[str]) -> tuple[bytes, list[int]]:
        font = TTFont(io.BytesIO(data), lazy=True, recalcTimestamp=False)
        options = subset.Options(notdef_outline=True, recommended_glyphs=True)
        options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(glyphs=glyphs)
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
        return out.getvalue(), [font.getGlyphID(g) for g in glyphs]

    for parsed in pdf.parsed_fonts().values():
        cmap = TTFont(io.BytesIO(parsed.data), lazy=True).getBestCmap()
        text = "Jaaroverzicht 2025: € 1.234,56 — Zoë, Ångström, Łukasz, “bedankt”!"
        glyphs = sorted({cmap[ord(c)] for c in text})
        assert set(glyphs) <= parsed.common_glyphs
        assert cut(parsed.common, glyphs) == cut(parsed.data, glyphs)
        # Greek is not among the common characters: such a document uses the whole font.
        assert cmap[ord("Ω")] not in parsed.common_glyphs


def test_a_long_table_repeats_its_headings_and_a_long_value_wraps(tmp_path: Path) -> None:
    """The one-line table drawn cell by cell (issue 17) breaks pages as fpdf2's table did:
    headings again on the next page, the total once at the end; a value too long for its
    column still goes through fpdf2's table, which wraps it."""
    many = statements.statement_pdf(_statement("Anne de Vries", *([1000] * 60)))
    text = _text(many, tmp_path / "many.pdf")
    assert text.count("\f") == 2  # two pages
    assert text.count("Datum") == 2
    assert text.count("€ 10,00") == 60
    assert text.count("€ 600,00") == 1

    document = pdf.FinanceDocument(title="t", language="nl", letterhead=["Save the Children"])
    long = "een omschrijving die veel te lang is voor een smalle kolom van deze tabel"
    document.table(["Wat", "Bedrag"], [[long, "€ 1,00"]], widths=[30, 20], align="LR")
    wrapped = _text(document.bytes(), tmp_path / "long.pdf")
    assert all(word in wrapped for word in long.split())
    assert long not in wrapped  # on more than one line
