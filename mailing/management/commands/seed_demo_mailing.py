"""The demo's sequences and segments (mailing/demo.py). Safe to re-run; the run command calls
it after seed_demo, which creates the stories the steps tell."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from mailing.demo import demo_mailing_seed


class Command(BaseCommand):
    help = "Create (or update) the demo's welcome sequence, donor series and segments."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = demo_mailing_seed()
        self.stdout.write(
            f"Demo mailing ready: {counts['sequences']} sequences, {counts['segments']} "
            f"segments, {counts['readers']} readers."
        )
