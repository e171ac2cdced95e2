"""Background exports for Finance (issue #7): a job runs on a real Celery worker, reports
progress the page can poll, and its file is downloadable by the Finance role only, until it
expires (410 Gone, the file deleted)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client
from django.utils import timezone

from backoffice.exports import export_files_expire, export_request, export_run
from backoffice.models import ExportJob, ExportState
from backoffice.roles import ADMIN, FINANCE, MARKETING
from backoffice.tasks import export_run_task
from donations.exports import LEDGER_COLUMNS
from donations.models import PayoutLine, Transaction
from tests.factories import UserFactory
from tests.finance.ledger_rows import FIRST_DAY, LAST_DAY, ledger_rows
from tests.staff import verified_client
from worker.models import OutboxTask

BIG = 100_000


def url(tail: str = "") -> str:
    return f"/{settings.ADMIN_PATH}{tail}"


def export_url(job: ExportJob, tail: str = "") -> str:
    return url(f"finance/exports/{job.pk}/{tail}")


@pytest.fixture
def export_dir(settings: Any, tmp_path: Path) -> Path:
    """Export files of this test only; a worker subprocess is pointed at the same folder."""
    settings.EXPORT_FILES_ROOT = tmp_path / "exports"
    return settings.EXPORT_FILES_ROOT


@pytest.fixture
def staff() -> Callable[[str | None], tuple[Any, Client]]:
    """A staff member with `role` and a client verified by a second factor."""

    def make(role: str | None) -> tuple[Any, Client]:
        user = UserFactory()
        if role is not None:
            user.groups.add(Group.objects.get(name=role))
        return user, verified_client(user)

    return make


def period_form(**overrides: str) -> dict[str, str]:
    return {
        "since": FIRST_DAY.isoformat(),
        "until": LAST_DAY.isoformat(),
        "format": "csv",
        "dialect": "default",
        **overrides,
    }


def poll(
    client: Client, job: ExportJob, *, until: Callable[[dict], bool], timeout: float = 120
) -> list[dict]:
    """Poll the JSON progress view as progress.js does, until `until`; every answer."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(export_url(job, "progress/"))
        assert response.status_code == 200
        seen.append(response.json())
        if until(seen[-1]):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"export not there in {timeout}s; last {seen[-1:]}")


PAUSE_AT = BIG // 2
PAUSE_LOCK = 707_001  # an advisory lock key of this test (locks are per database)

PROBE_SQL = """
CREATE TABLE export_progress_probe (rows_done integer, state text);
CREATE FUNCTION export_progress_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO export_progress_probe VALUES (NEW.rows_done, NEW.state);
    -- Hold the worker mid-export while the test has the lock: this write stays uncommitted,
    -- so readers see the one before it, a figure strictly between 0 and the total.
    IF NEW.state = 'running' AND NEW.rows_done >= %(pause)s AND OLD.rows_done < %(pause)s THEN
        PERFORM pg_advisory_xact_lock(%(key)s);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER export_progress_probe AFTER UPDATE ON backoffice_exportjob
    FOR EACH ROW EXECUTE FUNCTION export_progress_probe();
"""


class ProgressProbe:
    """Records every write to an export job and pauses the worker half-way until `release()`.

    The pause lock is held on a connection of its own inside an open transaction: behind
    PgBouncer in transaction pooling (TEST_DB_POOLER=pgbouncer) a session lock taken and
    released in autocommit may be released on another server connection, that is never."""

    def __init__(self) -> None:
        self.holder = connections.create_connection(DEFAULT_DB_ALIAS)
        self.holder.set_autocommit(False)
        with self.holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [PAUSE_LOCK])

    def writes(self) -> list[tuple[int, str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rows_done, state FROM export_progress_probe")
            return list(cursor.fetchall())

    def release(self) -> None:
        if self.holder.connection is None:
            return
        with self.holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PAUSE_LOCK])
        self.holder.commit()
        self.holder.close()


@pytest.fixture
def progress_probe() -> Iterator[ProgressProbe]:
    """Test-only SQL, like the harness's probe table; the code under test is untouched. A
    100,000-row CSV streams in about a second: without the pause a poll could miss every
    figure."""
    with connection.cursor() as cursor:
        cursor.execute(PROBE_SQL, {"pause": PAUSE_AT, "key": PAUSE_LOCK})
    probe = ProgressProbe()
    yield probe
    probe.release()
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER export_progress_probe ON backoffice_exportjob;"
            "DROP FUNCTION export_progress_probe(); DROP TABLE export_progress_probe;"
        )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_100000_row_export_runs_on_a_worker_reports_progress_and_only_finance_fetches_it(
    export_dir: Path,
    celery_worker: Callable[..., Any],
    staff: Callable[..., Any],
    progress_probe: ProgressProbe,
) -> None:
    # Given 100,000 ledger rows and a real worker on the exports queue.
    ledger_rows(BIG)
    celery_worker(EXPORT_FILES_ROOT=str(export_dir))
    _, finance = staff(FINANCE)

    # When Finance asks for the month from the Exports page.
    response = finance.post(url("finance/exports/"), period_form())
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert response["Location"] == export_url(job)
    page = finance.get(response["Location"])
    assert page.status_code == 200
    assert b'data-testid="progress"' in page.content

    # Then the JSON the bar polls reports a figure between 0 and the total while it runs.
    seen = poll(finance, job, until=lambda p: p["state"] == "running" and p["done"] > 0)
    assert 0 < seen[-1]["done"] < seen[-1]["total"] == BIG
    assert not seen[-1]["finished"]
    progress_probe.release()
    seen += poll(finance, job, until=lambda p: p["finished"])
    assert seen[-1] == {
        "done": BIG,
        "total": BIG,
        "state": "done",
        "finished": True,
        "label": seen[-1]["label"],
    }
    figures = [p["done"] for p in seen if p["total"]]
    assert figures == sorted(figures)
    assert all(p["done"] <= p["total"] for p in seen)
    # A few progress writes (one per EXPORT_PROGRESS_ROWS rows), not one a row.
    writes = progress_probe.writes()
    progress_writes = [done for done, state in writes if state == "running" and done]
    assert progress_writes == sorted(progress_writes)
    assert 2 <= len(progress_writes) <= BIG // settings.EXPORT_PROGRESS_ROWS
    job.refresh_from_db()
    assert job.state == ExportState.DONE
    assert job.expires_at is not None
    assert job.finished_at is not None
    assert job.expires_at - job.finished_at == timedelta(hours=settings.EXPORT_FILE_HOURS)
    assert (export_dir / job.file.name).is_file()

    # And the file has the 100,000 rows, fetched by Finance (any Finance user, not only the
    # one who asked) and by the Admin role.
    for client in (finance, staff(FINANCE)[1], staff(ADMIN)[1]):
        download = client.get(export_url(job, "download/"))
        assert download.status_code == 200
        assert download["Content-Disposition"].startswith("attachment;")
        assert "no-store" in download["Cache-Control"]
        content = b"".join(download.streaming_content)
    reader = csv.reader(io.StringIO(content.decode()))
    assert next(reader) == [column.header for column in LEDGER_COLUMNS]
    kinds = Counter(row[2] for row in reader)
    assert kinds == {"gift": BIG}

    # But not Marketing, a staff member without a role, or someone not logged in.
    for role in (MARKETING, None):
        _, other = staff(role)
        for tail in ("download/", "progress/", ""):
            assert other.get(export_url(job, tail)).status_code == 403
    anonymous = Client().get(export_url(job, "download/"))
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(url("login/"))


@pytest.fixture
def small_export(export_dir: Path, staff: Callable[..., Any]) -> ExportJob:
    """A finished CSV export of 1,200 rows, run in this process (the worker test is above)."""
    ledger_rows(1200)
    user, _ = staff(FINANCE)
    job = export_request(
        user=user,
        exporter="transactions",
        params={"since": FIRST_DAY.isoformat(), "until": LAST_DAY.isoformat()},
        fmt="csv",
        dialect="nl",
    )
    assert export_run(job.pk) is not None
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_a_finished_export_is_the_dutch_csv_finance_asked_for(
    small_export: ExportJob, staff: Callable[..., Any]
) -> None:
    _, finance = staff(FINANCE)

    response = finance.get(export_url(small_export, "download/"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "transacties-2025-03-01-tot-2025-03-31.csv" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert len(rows) == 1200 == small_export.rows_done == small_export.rows_total
    assert rows[0]["gross"] == "25,00"
    assert rows[0]["net"] == "24,71"
    # The job page shows the finished bar and the link.
    page = finance.get(export_url(small_export)).content.decode()
    assert 'data-finished="true"' in page
    assert 'id="export-download"' in page
    assert export_url(small_export, "download/") in page


@pytest.mark.django_db
def test_after_expiry_the_download_is_gone_with_a_clear_message(
    small_export: ExportJob, staff: Callable[..., Any], export_dir: Path
) -> None:
    path = export_dir / small_export.file.name
    assert path.is_file()
    ExportJob.objects.filter(pk=small_export.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    _, finance = staff(FINANCE)

    response = finance.get(export_url(small_export, "download/"))

    assert response.status_code == 410
    assert 'id="export-gone"' in response.content.decode()
    assert not path.exists()
    small_export.refresh_from_db()
    assert small_export.file.name == ""
    assert finance.get(export_url(small_export, "download/")).status_code == 410
    assert 'id="export-expired"' in finance.get(export_url(small_export)).content.decode()


@pytest.mark.django_db
def test_the_periodic_expiry_deletes_only_files_past_their_time(
    small_export: ExportJob, export_dir: Path, staff: Callable[..., Any]
) -> None:
    user, _ = staff(FINANCE)
    fresh = export_request(
        user=user, exporter="transactions", params=small_export.params, fmt="xlsx"
    )
    export_run(fresh.pk)
    fresh.refresh_from_db()
    assert small_export.expires_at is not None

    assert export_files_expire(now=small_export.expires_at - timedelta(seconds=1)) == 0
    later = max(small_export.expires_at, fresh.expires_at)
    ExportJob.objects.filter(pk=fresh.pk).update(expires_at=later + timedelta(hours=1))
    assert export_files_expire(now=later) == 1

    assert not (export_dir / small_export.file.name).exists()
    assert (export_dir / fresh.file.name).is_file()
    assert list(ExportJob.objects.exclude(file="").values_list("pk", flat=True)) == [fresh.pk]
    # Idempotent: nothing left to do.
    assert export_files_expire(now=later) == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "message"),
    [
        (period_form(since=""), "Een periode heeft een eerste dag nodig"),
        (period_form(until=""), "Een periode heeft een laatste dag nodig"),
        (period_form(since="2025-04-01"), "De periode eindigt (2025-03-31) voordat hij begint"),
        (period_form(since="1 maart"), "Vul een datum in als JJJJ-MM-DD"),
        (period_form(format="pdf"), "Onbekend formaat pdf"),
        (period_form(dialect="fr"), "Onbekende CSV-variant fr"),
    ],
)
def test_the_export_form_refuses_bad_input_in_dutch_and_records_nothing(
    form: dict[str, str], message: str, staff: Callable[..., Any]
) -> None:
    _, finance = staff(FINANCE)

    response = finance.post(url("finance/exports/"), form)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ExportJob.objects.exists()
    assert not OutboxTask.objects.exists()


@pytest.mark.django_db
def test_an_empty_period_gives_a_file_with_headers_only(
    export_dir: Path, staff: Callable[..., Any]
) -> None:
    user, finance = staff(FINANCE)
    job = export_request(
        user=user,
        exporter="transactions",
        params={"since": "2024-01-01", "until": "2024-01-31"},
        fmt="csv",
    )
    export_run(job.pk)

    response = finance.get(export_url(job, "download/"))

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines == [",".join(column.header for column in LEDGER_COLUMNS)]
    assert finance.get(export_url(job, "progress/")).json() == {
        "done": 0,
        "total": 0,
        "state": "done",
        "finished": True,
        "label": "Klaar",
    }


def _payout(payout: str, settled: list[int], booked: list[int]) -> None:
    """Gifts Stripe settled in a payout (nets `settled`), as our ledger booked them (nets
    `booked`), the payout's own balance transaction, and its row in the ledger."""
    amount = sum(settled)
    for i, (stripe_net, ledger_net) in enumerate(zip(settled, booked, strict=True)):
        Transaction.objects.create(
            kind="gift",
            amount=ledger_net,
            fee=0,
            net=ledger_net,
            currency="eur",
            stripe_object=f"ch_{payout}_{i}",
            stripe_balance_transaction=f"txn_{payout}_{i}",
            occurred_at=timezone.now() - timedelta(days=3),
        )
        PayoutLine.objects.create(
            payout=payout,
            balance_transaction=f"txn_{payout}_{i}",
            type="charge",
            amount=stripe_net,
            fee=0,
            net=stripe_net,
            currency="eur",
        )
    PayoutLine.objects.create(
        payout=payout,
        balance_transaction=f"txn_{payout}",
        type="payout",
        amount=-amount,
        fee=0,
        net=-amount,
        currency="eur",
    )
    Transaction.objects.create(
        kind="payout",
        amount=-amount,
        fee=0,
        net=-amount,
        currency="eur",
        stripe_object=payout,
        stripe_balance_transaction=f"txn_{payout}",
        stripe_payout=payout,
        occurred_at=timezone.now() - timedelta(days=1),
    )


@pytest.mark.django_db
def test_the_payouts_page_flags_a_mismatch_and_exports_one_payout(
    export_dir: Path, staff: Callable[..., Any]
) -> None:
    _payout("po_even", [100000, 23456], [100000, 23456])
    # Stripe settled €25.00 for the second gift; our ledger booked €24.99.
    _payout("po_odd", [2500, 2500], [2500, 2499])
    _, finance = staff(FINANCE)

    page = finance.get(url("finance/payouts/")).content.decode()

    assert re.search(r'data-payout="po_even" data-flagged="false"', page)
    assert re.search(r'data-payout="po_odd" data-flagged="true"', page)
    assert "€\xa01.234,56" in page  # po_even, to the bank
    assert "€\xa049,99" in page  # po_odd, in our ledger
    assert "€\xa050,00" in page  # po_odd, settled by Stripe
    # Its own page names the balance transaction that differs, with both sides' figures.
    detail = finance.get(url("finance/payouts/po_odd/")).content.decode()
    assert 'data-problem="amounts_differ" data-balance-transaction="txn_po_odd_1"' in detail
    assert "€\xa025,00" in detail
    assert "€\xa024,99" in detail
    assert 'data-problem="' not in finance.get(url("finance/payouts/po_even/")).content.decode()
    assert finance.get(url("finance/payouts/po_nothing/")).status_code == 404
    assert finance.get(url("finance/payouts/x';drop/")).status_code == 404

    response = finance.post(url("finance/payouts/"), {"payout": "po_odd", "format": "csv"})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert (job.exporter, job.params) == ("payout", {"payout": "po_odd"})
    export_run(job.pk)
    download = finance.get(export_url(job, "download/"))
    assert "uitbetaling-po_odd.csv" in download["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert sorted(row["kind"] for row in rows) == ["gift", "gift", "payout"]
    assert sum(int(row["net"].replace(".", "")) for row in rows if row["kind"] == "gift") == 4999
    status = {row["stripe_balance_transaction"]: row["reconciliation"] for row in rows}
    assert status == {"txn_po_odd_0": "ok", "txn_po_odd_1": "amounts_differ", "txn_po_odd": "ok"}

    # A forged payout id is refused with a message, and nothing is queued.
    forged = finance.post(url("finance/payouts/"), {"payout": "x'; drop", "format": "csv"})
    assert forged.status_code == 200
    assert ExportJob.objects.count() == 1


@pytest.mark.django_db
def test_the_payouts_page_lists_ledger_rows_no_payout_settled_when_due(
    staff: Callable[..., Any],
) -> None:
    _payout("po_even", [1000, 2000], [1000, 2000])  # booked a day ago
    # A gift 20 days ago (due in a payout after 14) and one 3 days ago, neither settled.
    for name, days in (("old", 20), ("new", 3)):
        Transaction.objects.create(
            kind="gift",
            amount=1234,
            fee=0,
            net=1234,
            currency="eur",
            stripe_object=f"ch_{name}",
            stripe_balance_transaction=f"txn_{name}",
            occurred_at=timezone.now() - timedelta(days=days),
        )
    _, finance = staff(FINANCE)

    page = finance.get(url("finance/payouts/")).content.decode()

    assert 'data-payout="po_even" data-flagged="false"' in page
    assert 'id="not-paid-out"' in page
    assert 'data-problem="not_settled" data-balance-transaction="txn_old"' in page
    assert "txn_new" not in page


@pytest.mark.django_db
def test_the_finance_pages_refuse_days_out_of_range_with_400_or_a_message(
    staff: Callable[..., Any],
) -> None:
    _, finance = staff(FINANCE)

    for since, until in [("2025-01-01", "9999-12-31"), ("0001-01-01", "2025-01-01")]:
        answer = finance.get(url("finance/payouts/"), {"since": since, "until": until})
        assert answer.status_code == 400
    assert finance.get(url("finance/payouts/"), {"since": "x", "until": "y"}).status_code == 400
    summary = finance.get(url("finance/summary/"), {"month": "9999-12"})
    assert summary.status_code == 200
    assert 'id="summary"' not in summary.content.decode()
    assert finance.get(url(f"finance/payouts/po_{'x' * 300}/")).status_code == 404


@pytest.mark.django_db
def test_marketing_gets_403_on_every_finance_page(staff: Callable[..., Any]) -> None:
    _, marketing = staff(MARKETING)

    for tail in ("finance/exports/", "finance/payouts/"):
        assert marketing.get(url(tail)).status_code == 403
        assert marketing.post(url(tail), period_form()).status_code == 403
    assert not ExportJob.objects.exists()


@pytest.mark.django_db
def test_a_failed_run_stops_the_bar_and_says_why(staff: Callable[..., Any]) -> None:
    # A job whose parameters cannot make an export (written around the service's checks).
    user, finance = staff(FINANCE)
    job = ExportJob.objects.create(
        requested_by=user, exporter="transactions", params={}, format="csv"
    )

    # The task as a worker runs it (eagerly here): it raises, and its on_failure records why.
    result = export_run_task.apply(args=[job.pk])

    assert result.failed()
    job.refresh_from_db()
    assert job.state == ExportState.FAILED
    assert job.error == "ExportRequestError: a period needs a first and a last day (YYYY-MM-DD)"
    progress = finance.get(export_url(job, "progress/")).json()
    assert (progress["state"], progress["finished"]) == ("failed", True)
    page = finance.get(export_url(job)).content.decode()
    assert "a period needs a first and a last day" in page
    assert finance.get(export_url(job, "download/")).status_code == 404
    # A failed job is not run again by a late duplicate message.
    assert export_run(job.pk) is None
