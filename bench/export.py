"""Transaction export: `manage.py export_transactions --format csv` against PostgreSQL's own
`COPY (SELECT the same columns) TO STDOUT WITH CSV` (psql), on 1,000,000 ledger rows; and the
XLSX export of 100,000 and of all rows.

Prints RESULT export ratio=<ours/copy> target<=1.3, our CSV export's peak RSS at 100,000 and
at 1,000,000 rows (target < 120 MB), and the XLSX export's peak RSS at both sizes (target:
flat). Both CSV sides write to a file; both are timed as whole processes (ours includes Python
and Django start-up). Peak RSS is the exporting process's own high-water mark (wait4's
ru_maxrss: VmHWM of that fresh process, children excluded), start-up included: a run over an
empty period shows what start-up alone takes.
Run: make bench (or .venv/bin/python bench/export.py). Needs PostgreSQL and psql.
BENCH_EXPORT_ROWS (default 1,000,000) and BENCH_EXPORT_XLSX=0 (skip the XLSX runs) for quick
runs while developing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, base_env, scratch_database
from bench.machine import load_line

ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", "1000000"))
XLSX = os.environ.get("BENCH_EXPORT_XLSX", "1") != "0"
DONATIONS = max(ROWS * 2 // 5, 1)
STEP_SECONDS = 30  # one ledger row every 30 s from 2025-01-01: 1M rows span ~347 days
SINCE = date(2025, 1, 1)
UNTIL_ALL = date(2025, 12, 31)
UNTIL_100K = date(2025, 2, 4)  # ~100,000 rows (34.7 days of rows every 30 s)
UNTIL_NONE = date(2024, 12, 1)  # an empty period: start-up alone
RUNS = 2  # best of: the machine is shared
RSS_TARGET_MB = 120
# "Flat": the large XLSX export may peak at most this much above the small one.
XLSX_FLAT_MB = 10

DONATIONS_SQL = """
INSERT INTO donations_donation (uuid, donor_name, donor_email, amount, fee_cover, currency,
    frequency, method, status, language, news_opt_in, source_token, utm,
    stripe_checkout_session, stripe_payment_intent, channel, created_at, updated_at)
SELECT gen_random_uuid(), 'Gever ' || g, 'gever' || g || '@voorbeeld.nl', 2500, 0, 'eur',
    CASE WHEN g %% 5 = 0 THEN 'monthly' ELSE 'one_off' END,
    (ARRAY['card', 'ideal', 'bancontact', 'sepa_debit'])[g %% 4 + 1], 'paid', 'nl', false, '',
    CASE WHEN g %% 3 = 0 THEN '{"utm_campaign": "voorjaar"}'::jsonb ELSE '{}'::jsonb END,
    'cs_' || g, 'pi_' || g,
    (ARRAY['donate_page', 'payment_link', 'dashboard'])[g %% 3 + 1], now(), now()
FROM generate_series(1, %(donations)s) g
"""

# Mostly gifts; every 10th row a refund, one in five of those recorded before its donation
# was known (donation_id NULL, joined through the payment intent); every 1000th a payout.
LEDGER_SQL = """
INSERT INTO donations_transaction (kind, donation_id, amount, fee, net, currency,
    stripe_object, stripe_payment_intent, stripe_charge, stripe_balance_transaction,
    stripe_payout, occurred_at, recorded_at, description)
SELECT kind, CASE WHEN kind = 'refund' AND g %% 50 = 0 THEN NULL
                  WHEN kind = 'payout' THEN NULL ELSE d END,
    amount, fee, amount - fee, 'eur', 'obj_' || g,
    CASE WHEN kind = 'payout' THEN '' ELSE 'pi_' || d END,
    CASE WHEN kind = 'payout' THEN '' ELSE 'ch_' || d END,
    'txn_' || g, CASE WHEN kind = 'payout' THEN 'po_' || g ELSE '' END,
    timestamptz '2025-01-01 00:00:00+01' + g * %(step)s * interval '1 second', now(), ''
FROM (
    SELECT g, (g %% %(donations)s) + 1 AS d,
        CASE WHEN g %% 1000 = 0 THEN 'payout' WHEN g %% 10 = 0 THEN 'refund' ELSE 'gift' END
            AS kind,
        CASE WHEN g %% 1000 = 0 THEN -250000 WHEN g %% 10 = 0 THEN -1250 ELSE 2500 + g %% 977 END
            AS amount,
        CASE WHEN g %% 1000 = 0 OR g %% 10 = 0 THEN 0 ELSE 29 + (g %% 977) / 50 END AS fee
    FROM generate_series(1, %(rows)s) g
) s
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    digest: str


def _fill(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DONATIONS_SQL, {"donations": DONATIONS})
        conn.execute(LEDGER_SQL, {"rows": ROWS, "donations": DONATIONS, "step": STEP_SECONDS})
        conn.execute("VACUUM ANALYZE donations_donation")
        conn.execute("VACUUM ANALYZE donations_transaction")


def _timed(argv: list[str], env: dict[str, str], output: Path, *, to_stdout: bool) -> Run:
    """Run one process; its wall time and its own peak RSS (wait4, not the children's max)."""
    started = time.perf_counter()
    with output.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out if to_stdout else subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed with exit code {process.returncode}")
    return Run(seconds=seconds, peak_rss_mb=usage.ru_maxrss / 1024, digest=_digest(output))


def _digest(path: Path) -> str:
    """Hash in chunks: a big file read at once would grow this process, and a child forked
    from it counts the parent's pages in its own peak RSS until it execs."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _lines(path: Path) -> int:
    with path.open("rb") as data:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: data.read(1 << 20), b""))


def _ours(env: dict[str, str], until: date, output: Path, fmt: str = "csv") -> Run:
    since = until if until < SINCE else SINCE
    argv = [
        sys.executable, "manage.py", "export_transactions", "--since", since.isoformat(),
        "--until", until.isoformat(), "--format", fmt, "--output", str(output),
    ]  # fmt: skip
    return _timed(argv, env, output, to_stdout=False)


REFERENCE_SQL = """
import sys
from datetime import date

import django
import psycopg

django.setup()
from donations.exports import TransactionsExporter

since, until = (date.fromisoformat(day) for day in sys.argv[1:3])
exporter = TransactionsExporter(since=since, until=until)
query, params = exporter.text_select("default")
with psycopg.connect(sys.argv[3]) as conn:
    print(psycopg.ClientCursor(conn).mogrify(query, params))
"""


def _reference_sql(env: dict[str, str], until: date) -> str:
    """The exporter's own SELECT (same columns, joins and formatting), parameters inlined.
    Asked of a child process: Django in this one would inflate the children's peak RSS
    (a forked child counts its parent's pages until it execs)."""
    argv = [sys.executable, "-c", REFERENCE_SQL, SINCE.isoformat(), until.isoformat()]
    select = subprocess.run(
        [*argv, env["DATABASE_URL"]],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER true)"


def _reference(env: dict[str, str], sql: str, output: Path) -> Run:
    argv = ["psql", env["DATABASE_URL"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]
    return _timed(argv, env, output, to_stdout=True)


def main() -> None:
    print(load_line("before"), flush=True)
    began = time.perf_counter()
    env = base_env()
    with scratch_database("bench_export", env) as url, tempfile.TemporaryDirectory() as tmp:
        env = {**env, "DATABASE_URL": url}
        started = time.perf_counter()
        _fill(url)
        print(f"filled {ROWS:,} ledger rows in {time.perf_counter() - started:.1f} s", flush=True)
        directory = Path(tmp)
        empty = _ours(env, UNTIL_NONE, directory / "empty.csv")
        small = _ours(env, UNTIL_100K, directory / "small.csv")
        small_rows = _lines(directory / "small.csv") - 1
        sql = _reference_sql(env, UNTIL_ALL)
        ours: list[Run] = []
        reference: list[Run] = []
        for _ in range(RUNS):
            reference.append(_reference(env, sql, directory / "copy.csv"))
            ours.append(_ours(env, UNTIL_ALL, directory / "ours.csv"))
        rows = _lines(directory / "ours.csv") - 1
        same = ours[-1].digest == reference[-1].digest
        best_ours = min(r.seconds for r in ours)
        best_copy = min(r.seconds for r in reference)
        peak_large = max(r.peak_rss_mb for r in ours)
        print(f"copy: {', '.join(f'{r.seconds:.2f}' for r in reference)} s for {rows:,} rows")
        print(f"ours: {', '.join(f'{r.seconds:.2f}' for r in ours)} s; same bytes as COPY: {same}")
        print(
            f"start-up alone (an empty period): {empty.seconds:.2f} s, {empty.peak_rss_mb:.0f} MB"
        )
        print(f"RESULT export ratio={best_ours / best_copy:.2f} target<=1.3")
        print(f"RESULT export peak_rss_mb rows={small_rows} {small.peak_rss_mb:.0f} target<120")
        print(f"RESULT export peak_rss_mb rows={rows} {peak_large:.0f} target<{RSS_TARGET_MB}")
        if XLSX:
            _xlsx(env, directory, small_rows, rows)
        if not same:
            raise SystemExit("our CSV differs from COPY's output of the same SELECT")
    print(load_line("after"))
    print(f"bench/export.py took {time.perf_counter() - began:.0f} s")


def _xlsx(env: dict[str, str], directory: Path, small_rows: int, rows: int) -> None:
    """XLSX through openpyxl's write-only workbook: its memory must not grow with the rows."""
    small = _ours(env, UNTIL_100K, directory / "small.xlsx", "xlsx")
    print(f"xlsx {small_rows:,} rows: {small.seconds:.1f} s, peak {small.peak_rss_mb:.0f} MB")
    large = _ours(env, UNTIL_ALL, directory / "ours.xlsx", "xlsx")
    print(f"xlsx {rows:,} rows: {large.seconds:.1f} s, peak {large.peak_rss_mb:.0f} MB")
    growth = large.peak_rss_mb - small.peak_rss_mb
    print(
        f"RESULT export_xlsx peak_rss_mb rows={small_rows} {small.peak_rss_mb:.0f} "
        f"rows={rows} {large.peak_rss_mb:.0f} growth={growth:.0f} target<={XLSX_FLAT_MB} (flat)"
    )


if __name__ == "__main__":
    main()
