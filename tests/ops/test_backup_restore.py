"""Backup and restore as docs/operations.md tells an operator: pg_dump, pg_restore into a fresh
database, and the app runs on the copy (migrations current, the books export the same gifts)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.factories import TransactionFactory
from tests.harness.processes import ROOT, database_url_for_subprocess

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _pg_tool_matches_server(tool: str) -> bool:
    """pg_dump refuses a newer server: only run when the machine's tools fit the server."""
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    client_major = int(out.stdout.split()[-1].split(".")[0])
    return client_major >= connection.pg_version // 10000


def _manage(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_dump_restores_into_a_fresh_database_and_the_app_runs_on_it(tmp_path: Path) -> None:
    if not (_pg_tool_matches_server("pg_dump") and _pg_tool_matches_server("pg_restore")):
        pytest.skip("pg_dump/pg_restore older than the server (embedded PostgreSQL)")
    # Given: three gifts in the books on a known day.
    day = datetime.datetime(2026, 3, 14, 12, 0, tzinfo=datetime.UTC)
    amounts = [2500, 1000, 12345]
    for amount in amounts:
        TransactionFactory(amount=amount, fee=25, occurred_at=day)
    # The app reaches PostgreSQL as configured (through PgBouncer under TEST_DB_POOLER); the
    # tools reach PostgreSQL itself, as docs/operations.md says: pg_dump and pg_restore keep
    # session settings that transaction pooling does not carry from one statement to the next.
    app = database_url_for_subprocess()
    server = os.environ.get("TEST_DB_SERVER_URL", app).rsplit("/", 1)[0]
    source = f"{server}/{app.rsplit('/', 1)[1]}"
    restored_name = f"restore_{uuid.uuid4().hex[:10]}"
    restored = f"{server}/{restored_name}"
    dump = tmp_path / "survivors.dump"

    # When: dumped (custom format, as docs/operations.md says) and restored into a new database.
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), source], check=True, timeout=120)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored_name}"')
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-d", restored, str(dump)],
            check=True,
            timeout=120,
        )
        app_on_copy = f"{app.rsplit('/', 1)[0]}/{restored_name}"
        migrations = _manage(app_on_copy, "migrate", "--check")
        export = _manage(
            app_on_copy,
            "export_transactions",
            "--since",
            "2026-03-14",
            "--until",
            "2026-03-14",
            "--format",
            "csv",
        )
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')

    # Then: no migration is missing and the copy's books hold the same three gifts.
    assert migrations.returncode == 0, migrations.stdout + migrations.stderr
    assert export.returncode == 0, export.stderr
    rows = [line for line in export.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == len(amounts), export.stdout
    for amount in amounts:
        euros = f"{amount // 100}.{amount % 100:02d}"
        assert any(euros in row for row in rows), (euros, export.stdout)
