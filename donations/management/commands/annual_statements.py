"""`manage.py annual_statements --year YYYY [--send] [--output DIR]`.

Without --send it only reports how many donors and how much the year holds (and writes each
donor's PDF to --output). With --send it runs the year's statements in this process: the same
rows and the same once-per-donor rule as a run started in the back office, so it also resumes
a run that stopped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from donations import statements
from donations.models import StatementRun


class Command(BaseCommand):
    help = "Annual gift statements of a year: report, write the PDFs, or email them (--send)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--send", action="store_true", help="email every donor not yet sent")
        parser.add_argument("--output", type=Path, help="write each donor's PDF to this folder")

    def handle(
        self, *args: Any, year: int, send: bool, output: Path | None, **options: Any
    ) -> None:
        try:
            statements.check_year(year)
        except statements.StatementError as error:
            raise CommandError(str(error)) from None
        donors = 0
        total = 0
        for statement in statements.statement_donors(year=year):
            donors += 1
            total += statement.total
            if output is not None:
                output.mkdir(parents=True, exist_ok=True)
                safe = re.sub(r"[^a-z0-9@._-]", "_", statement.email)
                (output / f"{year}-{safe}.pdf").write_bytes(statements.statement_pdf(statement))
        self.stdout.write(f"{year}: {donors} donors, {total / 100:.2f} EUR in gifts kept")
        if not send:
            return

        def report(run: StatementRun) -> None:
            self.stderr.write(f"sent {run.done} / {run.total}")

        try:
            run = statements.statement_run_here(year=year, on_batch=report)
        except statements.StatementError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"run {run.pk}: {run.done} / {run.total} statements sent ({run.state})")
