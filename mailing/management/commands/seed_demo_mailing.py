"""The demo's sequences and segments (mailing/demo.py). Safe to re-run; the run command calls
it after seed_demo, which creates the stories the steps tell.

Its readers (example.org sign-ups, confirmed, sent this month's story) are only seeded when
their mail stays on this machine (mailing/demo_guard.py); otherwise the command refuses and
writes nothing, unless told --without-readers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailing.demo import demo_mailing_seed, demo_sequences_seed
from mailing.demo_guard import demo_mail_refusal


class Command(BaseCommand):
    help = "Create (or update) the demo's welcome sequence, donor series, segments and readers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--without-readers",
            action="store_true",
            help="Only the sequences and segments: no sign-ups, no mailing (any mail server).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["without_readers"]:
            counts = demo_sequences_seed()
            self.stdout.write(
                f"Demo mailing ready: {counts['sequences']} sequences, {counts['segments']} "
                "segments, no readers."
            )
            return
        refusal = demo_mail_refusal()
        if refusal:
            raise CommandError(f"not seeding the demo readers: {refusal}.")
        counts = demo_mailing_seed()
        self.stdout.write(
            f"Demo mailing ready: {counts['sequences']} sequences, {counts['segments']} "
            f"segments, {counts['readers']} readers."
        )
