"""Three months of demo gifts through the local Stripe (donations/demo_gifts.py). The run
command calls it once the site, the worker and devstripe are up; a run killed half-way is
finished by the next (against the same Stripe), and a complete one adds nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from donations.demo_gifts import StripeGone, already_seeded, forget_stale_stripe, seed_demo_gifts


class Command(BaseCommand):
    help = "Make the demo's months of gifts, refunds, a dispute and payouts via devstripe."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--forget-stale-stripe",
            type=Path,
            metavar="STATE_FILE",
            help="only delete devstripe's STATE_FILE if this database has no gifts and no seed "
            "steps yet (the run command, before it starts devstripe); seeds nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["forget_stale_stripe"] is not None:
            if forget_stale_stripe(options["forget_stale_stripe"]):
                self.stdout.write("New database: the local Stripe starts with an empty account.")
            return
        if not settings.STRIPE_API_BASE.startswith("http://127.0.0.1:"):
            raise CommandError("needs the local Stripe (devstripe) at STRIPE_API_BASE")
        if already_seeded():
            self.stdout.write("Demo gifts already there: nothing added.")
            return
        started = time.monotonic()
        try:
            count = seed_demo_gifts(say=self.stdout.write)
        except StripeGone as exc:
            raise CommandError(f"cannot finish the demo gifts: {exc}.") from exc
        self.stdout.write(
            f"Demo gifts ready: {count} gifts over three months, booked from Stripe's webhooks "
            f"({time.monotonic() - started:.1f} s)."
        )
