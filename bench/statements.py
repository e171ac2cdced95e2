"""January's annual statements: BENCH_STATEMENT_DONORS donors (default 20,000) with 12 gifts each,
generated and emailed through a real Celery worker to an SMTP sink, against a reference that
renders the same statement text with fpdf2 (the font parsed once) and sends each message's
bytes with smtplib over one connection, in the same run. The reference runs on the first
BENCH_STATEMENT_REFERENCE_DONORS donors (default 2,000: its rate is steady); the ratio compares
the time per statement.

    .venv/bin/python bench/statements.py                  (or: make bench)
    BENCH_STATEMENT_DONORS=2000 .venv/bin/python bench/statements.py     (a quick run)

Both sides run one process (the worker with BENCH_STATEMENT_WORKERS=1 pool process, the
reference in this process), so the ratio compares the work, not the parallelism. The sink (a
process of its own, aiosmtpd) counts the messages per recipient: every donor must get exactly
one statement from ours. Prints the worker's largest process RSS after 2,000 statements and at
the end (target: flat), the load average before and after, and the CPU of each part, then
RESULT statements ratio=<ours' time / the reference's> target<=2.0.
"""

from __future__ import annotations

import io
import itertools
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    Sink,
    base_env,
    celery_worker,
    cpu_by_part,
    cpu_report,
    leased_redis_database,
    scratch_database,
)

DONORS = int(os.environ.get("BENCH_STATEMENT_DONORS", "20000"))
GIFTS = 12
WORKERS = int(os.environ.get("BENCH_STATEMENT_WORKERS", "1"))
RSS_AT = int(os.environ.get("BENCH_STATEMENT_RSS_AT", "2000"))
# The reference's rate per statement is steady (no queue, no database writes, the same document
# each time but for the donor's lines), so it runs on the first REFERENCE_DONORS donors only: at
# 20,000 it alone would add ~45 minutes to `make bench`. The ratio compares time per statement.
REFERENCE_DONORS = min(DONORS, int(os.environ.get("BENCH_STATEMENT_REFERENCE_DONORS", "2000")))
SENDER = "jaaroverzicht@savethechildren.example"


# --- the data -------------------------------------------------------------------------------


def _populate(year: int) -> None:
    """DONORS donors, GIFTS gifts each in `year` (one a month, mixed methods and frequencies)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH gifts AS (
                INSERT INTO donations_donation (uuid, donor_name, donor_email, amount, fee_cover,
                    currency, frequency, method, status, language, news_opt_in, source_token,
                    utm, stripe_checkout_session, stripe_payment_intent, created_at, updated_at,
                    channel)
                SELECT gen_random_uuid(), 'Donateur ' || d, 'Donor-' || d || '@Voorbeeld.nl',
                       500 + 125 * m, 0, 'eur',
                       CASE WHEN d %% 3 = 0 THEN 'one_off' ELSE 'monthly' END,
                       (ARRAY['card', 'ideal', 'sepa_debit', 'bancontact'])[1 + (d + m) %% 4],
                       'paid', CASE WHEN d %% 4 = 0 THEN 'en' ELSE 'nl' END, false, '', '{}',
                       '', 'pi_bench_' || d || '_' || m,
                       make_timestamptz(%s, m, 10, 12, 0, 0, 'Europe/Amsterdam'), now(),
                       'donate_page'
                FROM generate_series(1, %s) d, generate_series(1, %s) m
                RETURNING id, amount, stripe_payment_intent, created_at
            )
            INSERT INTO donations_transaction (kind, amount, fee, net, currency, stripe_object,
                stripe_payment_intent, stripe_charge, stripe_balance_transaction, stripe_payout,
                occurred_at, recorded_at, description, donation_id)
            SELECT 'gift', amount, 0, amount, 'eur', stripe_payment_intent, stripe_payment_intent,
                   '', '', '', created_at, now(), '', id
            FROM gifts
            """,
            [year, DONORS, GIFTS],
        )
        cursor.execute("ANALYZE")


# --- the reference: fpdf2 with the font parsed once, smtplib over one connection ------------


class ReferencePdf:
    """The statement's text drawn with fpdf2 directly; each style's font parsed once."""

    def __init__(self) -> None:
        import copy

        from django.conf import settings
        from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # untyped library
        from fpdf import FPDF
        from fpdf.fonts import SubsetMap

        self.copy, self.TTFont, self.FPDF, self.SubsetMap = copy, TTFont, FPDF, SubsetMap
        template = FPDF()
        self.fonts: dict[str, tuple[Any, bytes]] = {}
        for style, path in (("", settings.PDF_FONT), ("B", settings.PDF_FONT_BOLD)):
            template.add_font("ref", style, path)
            self.fonts[f"ref{style}"] = (template.fonts[f"ref{style}"], Path(path).read_bytes())

    def render(self, lines: dict[str, Any]) -> bytes:
        pdf = self.FPDF(format="A4")
        for key, (parsed, _data) in self.fonts.items():
            font: Any = self.copy.copy(parsed)
            font.i = len(pdf.fonts) + 1
            font.subset = self.SubsetMap(font)
            font.missing_glyphs = []
            font.biggest_size_pt = 0
            pdf.fonts[key] = font
        pdf.set_margins(20, 20, 20)
        pdf.add_page()
        pdf.set_font("ref", "B", 12)
        for i, line in enumerate(lines["letterhead"]):
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
            if i == 0:
                pdf.set_font("ref", "", 9)
        pdf.ln(6)
        pdf.set_font("ref", "", 10)
        pdf.multi_cell(0, 5, lines["name"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("ref", "B", 15)
        pdf.multi_cell(0, 8, lines["heading"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("ref", "", 10)
        pdf.multi_cell(0, 5, lines["intro"], new_x="LMARGIN", new_y="NEXT")
        with pdf.table(col_widths=(45, 50, 45, 30), line_height=6) as table:
            for values in lines["rows"]:
                row = table.row()
                for value in values:
                    row.cell(value)
        for paragraph in lines["closing"]:
            pdf.multi_cell(0, 5, paragraph, new_x="LMARGIN", new_y="NEXT")
        for key, (_parsed, data) in self.fonts.items():
            written: Any = pdf.fonts[key]
            written.ttfont = self.TTFont(io.BytesIO(data), lazy=True)
        try:
            return bytes(pdf.output())
        finally:
            self.SubsetMap.pick.cache_clear()
            self.SubsetMap.get_glyph.cache_clear()


def _reference(year: int, port: int) -> float:
    """Read every donor's gifts, draw and send each statement; returns the seconds taken."""
    from django.conf import settings
    from django.utils import formats, translation

    from donations.models import Frequency, Method
    from donations.statements import anbi_sentence, statement_donors
    from donations.templatetags.donations import euros

    started = time.perf_counter()
    pdf = ReferencePdf()
    connection = smtplib.SMTP("127.0.0.1", port)
    for statement in itertools.islice(statement_donors(year=year), REFERENCE_DONORS):
        with translation.override(statement.language):
            rows = [
                [
                    formats.date_format(gift.received_at.date(), "DATE_FORMAT"),
                    str(Frequency(gift.frequency).label),
                    str(Method(gift.method).label),
                    euros(gift.amount),
                ]
                for gift in statement.gifts
            ]
            lines = {
                "letterhead": [settings.CHARITY_NAME, settings.CHARITY_ADDRESS, "RSIN"],
                "name": statement.name,
                "heading": f"Your gifts in {statement.year}",
                "intro": f"Thank you. These are the gifts received from you in {year}.",
                "rows": [["Date", "Gift", "Payment method", "Amount"], *rows],
                "closing": [anbi_sentence(), "Keep this statement with your tax records."],
            }
            document = pdf.render(lines)
        message = EmailMessage()
        message["From"] = SENDER
        message["To"] = statement.email
        message["Subject"] = f"Annual statement {year}"
        message.set_content(f"Dear {statement.name},\n\nYour annual statement is attached.\n")
        message.add_attachment(
            document, maintype="application", subtype="pdf", filename=f"statement-{year}.pdf"
        )
        connection.sendmail(SENDER, [f"ref-{statement.email}"], message.as_bytes(policy=SMTP))
    connection.quit()
    return time.perf_counter() - started


# --- ours: a statement run through the real worker ------------------------------------------


def _largest_rss(root: subprocess.Popen[bytes]) -> int:
    try:
        parent = psutil.Process(root.pid)
        return max(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
    except psutil.Error:
        return 0


def _ours(year: int, worker: subprocess.Popen[bytes]) -> tuple[float, int, int]:
    """Start the run as the back office does; wait until it is done. Returns the seconds taken
    and the worker's largest process RSS after RSS_AT statements and at the end."""
    from donations.models import StatementRun, StatementRunState
    from donations.statements import statement_run_start

    started = time.perf_counter()
    run = statement_run_start(year=year)
    peak = rss_at = 0
    while True:
        peak = max(peak, _largest_rss(worker))
        run.refresh_from_db()
        if not rss_at and run.done >= min(RSS_AT, DONORS):
            rss_at = peak
        if run.state == StatementRunState.DONE:
            break
        if run.state == StatementRunState.FAILED:
            raise SystemExit(f"the run failed: {run.last_error}")
        if worker.poll() is not None:
            raise SystemExit("the worker died")
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    peak = max(peak, _largest_rss(worker))
    assert StatementRun.objects.get(pk=run.pk).done == DONORS
    return elapsed, rss_at, peak


def _wait_until_ready() -> None:
    from worker.celery_app import app

    deadline = time.monotonic() + 180
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not start within three minutes")
    time.sleep(1)


def _check(sink: Sink, year: int) -> None:
    """Every donor got exactly one statement from ours, and the rows say so."""
    from donations.models import AnnualStatement

    counts = sink.counts()
    ours = {address: n for address, n in counts.items() if not address.startswith("ref-")}
    reference = sum(n for address, n in counts.items() if address.startswith("ref-"))
    twice = [address for address, n in ours.items() if n != 1]
    sent = AnnualStatement.objects.filter(year=year, sent_at__isnull=False).count()
    print(
        f"sink: {sum(ours.values())} statements to {len(ours)} donors from ours "
        f"({len(twice)} more than once), {reference} from the reference; rows sent: {sent}"
    )
    if len(ours) != DONORS or twice or sent != DONORS or reference != REFERENCE_DONORS:
        raise SystemExit("not every donor got exactly one statement: the figures are not valid")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def main() -> None:
    print(f"load average before: {_load()}", flush=True)
    env = base_env()
    report = Path(tempfile.mkdtemp(prefix="bench-statements-")) / "sink.json"
    sink = Sink(report)
    env["EMAIL_URL"] = f"smtp://127.0.0.1:{sink.port}"
    env["MAILING_DKIM_OPTOUT"] = "1"
    try:
        with (
            leased_redis_database(env) as redis_url,
            scratch_database("bench_statements", env) as url,
        ):
            os.environ.update(env)
            os.environ["DATABASE_URL"] = url
            os.environ["REDIS_URL"] = redis_url
            os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
            _run(sink)
    finally:
        sink.stop()
        report.unlink(missing_ok=True)
        report.parent.rmdir()
    print(f"load average after: {_load()}")


def _run(sink: Sink) -> None:
    import django

    django.setup()
    from django.utils import timezone

    year = timezone.localdate().year - 1
    started = time.perf_counter()
    _populate(year)
    print(f"{DONORS:,} donors x {GIFTS} gifts stored in {time.perf_counter() - started:.0f} s")

    worker = celery_worker(
        dict(os.environ),
        queues="mail",
        concurrency=WORKERS,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_until_ready()  # start-up is not part of the run
        before = cpu_by_part()
        reference = _reference(year, sink.port)
        print(f"reference (fpdf2, font parsed once; smtplib): {reference:.1f} s", flush=True)
        ours, rss_at, rss_end = _ours(year, worker)
        after = cpu_by_part()
        print(f"ours (statement run, Celery worker x{WORKERS}): {ours:.1f} s", flush=True)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
    _check(sink, year)
    cpu_report(before, after, per=REFERENCE_DONORS + DONORS, unit="statement, both sides")
    reference_each, ours_each = reference / REFERENCE_DONORS, ours / DONORS
    print(
        f"per statement: reference {reference_each * 1000:.1f} ms "
        f"(on {REFERENCE_DONORS:,} donors), ours {ours_each * 1000:.1f} ms (on {DONORS:,})"
    )
    print(
        f"worker largest process RSS: {rss_at / 2**20:.0f} MB after {min(RSS_AT, DONORS):,}, "
        f"{rss_end / 2**20:.0f} MB after {DONORS:,} (target: flat)"
    )
    print(f"RESULT statements ratio={ours_each / reference_each:.2f} target<=2.0 donors={DONORS}")


if __name__ == "__main__":
    main()
