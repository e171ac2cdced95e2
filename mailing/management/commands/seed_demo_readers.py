"""The demo mailing's readers click, give, unsubscribe and bounce (mailing/demo_readers.py).
The run command calls it once the site, the worker, the demo mailbox and devstripe are up;
running it again does nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mailing.demo_guard import demo_mail_refusal
from mailing.demo_readers import already_read, demo_readers_act


class Command(BaseCommand):
    help = "Let the demo mailing's readers act on it, so its results have data."

    def handle(self, *args: Any, **options: Any) -> None:
        # Readers give, unsubscribe and are thanked: mail that must not leave this machine.
        refusal = demo_mail_refusal()
        if refusal:
            raise CommandError(f"not seeding the demo readers: {refusal}.")
        if not settings.DEMO_MAILBOX_DIR:
            raise CommandError("needs the demo mailbox (DEMO_MAILBOX_DIR)")
        if already_read():
            self.stdout.write("Demo mailing already read: nothing added.")
            return
        started = time.monotonic()
        count = demo_readers_act(Path(settings.DEMO_MAILBOX_DIR))
        self.stdout.write(
            f"Demo mailing read: {count} readers clicked, gave, unsubscribed or bounced "
            f"({time.monotonic() - started:.1f} s)."
        )
