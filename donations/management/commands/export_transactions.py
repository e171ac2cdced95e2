"""`manage.py export_transactions --since YYYY-MM-DD --until YYYY-MM-DD --format csv|xlsx`.

The until day is included; days are Europe/Amsterdam days. Without --output the file goes to
stdout, so it pipes; a progress bar goes to stderr only when stderr is a terminal.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from typing import Any, BinaryIO, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from donations.exports import (
    DIALECTS,
    FORMATS,
    Dialect,
    Exporter,
    Format,
    PayoutExporter,
    Renderer,
    TransactionsExporter,
)

BAR_WIDTH = 30


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, not {value!r}") from None


class ProgressBar:
    """A one-line bar, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.shown_at = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.shown_at < 0.1 and done < self.total:
            return
        self.shown_at = now
        share = min(done / self.total, 1.0)
        filled = int(share * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {share:4.0%} {done}/{self.total} rows")
        self.stream.flush()

    def finish(self) -> None:
        self(self.total)
        self.stream.write("\n")


class Command(BaseCommand):
    help = "Export ledger transactions of a period (or one payout) as CSV or XLSX."
    # The system checks import every URLconf, view and admin page: seconds of start-up and
    # megabytes of memory a read-only export never uses (`manage.py check` runs them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="first day, YYYY-MM-DD (Europe/Amsterdam)")
        parser.add_argument("--until", help="last day, included, YYYY-MM-DD")
        parser.add_argument("--payout", help="instead of a period: the rows one payout settled")
        parser.add_argument("--format", default="csv", help="csv or xlsx")
        parser.add_argument("--dialect", default="default", help="default or nl (CSV only)")
        parser.add_argument("--output", help="file to write; stdout when left out")

    def handle(self, *args: Any, **options: Any) -> None:
        fmt, dialect = self._format(options)
        exporter = self._exporter(options)
        out_path = options.get("output")
        stderr = sys.stderr
        bar = ProgressBar(stderr, exporter.count()) if stderr.isatty() else None
        renderer = Renderer(exporter, dialect=dialect, progress=bar)
        if out_path:
            # Donors' names and emails: readable by the operator only (0600), whatever the umask,
            # as the back office's export files are (backoffice/exports.py).
            descriptor = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                rows = renderer.render(fmt, out)
        else:
            rows = renderer.render(fmt, self._binary_stdout())
        if bar is not None:
            bar.finish()
            stderr.write(f"{rows} rows exported\n")

    def _format(self, options: dict[str, Any]) -> tuple[Format, Dialect]:
        fmt = options["format"]
        if fmt not in FORMATS:
            raise CommandError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
        dialect = options["dialect"]
        if dialect not in DIALECTS:
            raise CommandError(f"unknown dialect {dialect!r}: choose one of {', '.join(DIALECTS)}")
        return cast(Format, fmt), cast(Dialect, dialect)

    def _exporter(self, options: dict[str, Any]) -> Exporter:
        since = _day(options.get("since"), "--since")
        until = _day(options.get("until"), "--until")
        if options.get("payout"):
            if since or until:
                raise CommandError("give either --payout or a period (--since/--until), not both")
            return PayoutExporter(payout=options["payout"])
        if since is None or until is None:
            raise CommandError(
                "give both --since and --until (YYYY-MM-DD): a period must have two ends"
            )
        if until < since:
            raise CommandError(f"the period ends ({until}) before it starts ({since})")
        return TransactionsExporter(since=since, until=until)

    def _binary_stdout(self) -> BinaryIO:
        # The file is bytes (an XLSX is a zip): write below Django's text wrapper.
        stream = cast(TextIO, self.stdout._out)
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            raise CommandError("stdout takes no bytes here: give --output FILE")
        stream.flush()
        return cast(BinaryIO, buffer)
