"""`manage.py receive_bounce < message`: one message for the VERP bounce address, read from
stdin, as a Postfix pipe(8) transport hands it over (docs/operations.md). Exit 75 (EX_TEMPFAIL)
when the database is away, so Postfix keeps the message and tries again; 0 otherwise, a message
that is no DSN included (there is nothing to retry)."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from mailing.dsn import dsn_receive

EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Count the bounces one DSN (RFC 3464), or the complaint one ARF report, on stdin tells."

    def handle(self, *args: Any, **options: Any) -> None:
        raw = sys.stdin.buffer.read(settings.MAILING_BOUNCE_MAX_BYTES + 1)
        if len(raw) > settings.MAILING_BOUNCE_MAX_BYTES:
            self.stderr.write("message too large: ignored")
            return
        try:
            result = dsn_receive(raw)
        except DatabaseError as exc:
            self.stderr.write(f"database unavailable, try again later: {exc}")
            sys.exit(EX_TEMPFAIL)
        self.stdout.write(
            f"dsn={result.is_dsn} counted={result.counted} suppressed={result.suppressed}"
            f" complaints={result.complaints}"
        )
