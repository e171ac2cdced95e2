"""`manage.py reconcile_stripe [--since YYYY-MM-DD] [--dry-run] [--no-drain]`.

Lists Stripe's events since the cursor (or the start of the given Europe/Amsterdam day) and
stores the ones the webhook never delivered, then applies them (see `help`). The periodic
task runs the same service (donations.reconcile) without the drain: there the Celery drains
apply what it stores.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from donations import stripe_api
from donations.inbox import inbox_drain
from donations.models import EventStatus, StripeEvent
from donations.reconcile import ReconcileBusy, ReconcileSummary, reconcile_run

# A progress line at most this often, so long runs show they are moving and short ones stay
# quiet.
PROGRESS_SECONDS = 2.0
STRIPE_KEEPS_DAYS = 30


class Command(BaseCommand):
    help = (
        "Book every Stripe event the webhook missed: list Stripe's events created since the "
        "cursor (or --since), store the missing ones in the webhook inbox and apply them to "
        "the ledger before returning (--no-drain leaves them queued for the Celery workers). "
        "Each page is committed with the run's progress: a run that is stopped continues "
        "where it stopped. Events the webhook already stored are not stored again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            help="list events from the start of this day, YYYY-MM-DD (Europe/Amsterdam), "
            "instead of from the cursor; Stripe keeps events for 30 days",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="store nothing: list the events and say which ones the inbox lacks",
        )
        parser.add_argument(
            "--no-drain",
            action="store_true",
            help="store the missing events and leave applying them to the Celery workers",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = _since(options.get("since"))
        if since is not None and time.time() - since > STRIPE_KEEPS_DAYS * 86400:
            self.stderr.write(
                f"Stripe keeps events for {STRIPE_KEEPS_DAYS} days: older ones are not listed."
            )
        self._shown_at = time.monotonic()
        try:
            summary = reconcile_run(
                since=since, dry_run=options["dry_run"], progress=self._progress
            )
        except ReconcileBusy:
            raise CommandError(
                "another reconcile is running; try again when it has ended"
            ) from None
        except stripe_api.StripeError as exc:
            raise CommandError(
                f"Stripe answered with an error: {exc}. The pages stored so far are kept: run "
                "the command again to continue."
            ) from None
        self._report(summary)
        if summary.dry_run:
            return
        if options["no_drain"]:
            self.stdout.write(f"{summary.stored} stored events are queued for the workers.")
            return
        self._drain()

    def _progress(self, summary: ReconcileSummary) -> None:
        now = time.monotonic()
        if now - self._shown_at < PROGRESS_SECONDS:
            return
        self._shown_at = now
        verb = "missing" if summary.dry_run else "stored now"
        self.stdout.write(
            f"page {summary.pages}: {summary.listed.total()} events listed, "
            f"{summary.new.total()} {verb}, back to {_when(summary.oldest_seen)}"
        )
        self.stdout.flush()

    def _report(self, summary: ReconcileSummary) -> None:
        write = self.stdout.write
        write(f"Stripe events created after {_when(summary.since)}:")
        if summary.resumed_after:
            write(f"  (continued an interrupted run after {summary.resumed_after})")
        new = "missing" if summary.dry_run else "stored now"
        write(
            f"  listed {summary.listed.total()}, already stored {summary.already_stored}, "
            f"{new} {summary.new.total()}"
            + (f", malformed (skipped) {summary.malformed}" if summary.malformed else "")
        )
        width = max((len(name) for name in summary.listed), default=0)
        for name, count in sorted(summary.listed.items()):
            write(f"    {name:<{width}}  listed {count:>6}  {new} {summary.new[name]:>6}")
        if summary.dry_run:
            write("Dry run: nothing was stored.")
            for event in summary.missing:
                write(f"  missing {event.id}  {event.type}  {_when(event.created)}")
            if summary.new.total() > len(summary.missing):
                write(f"  ... and {summary.new.total() - len(summary.missing)} more")
            return
        write(f"Every Stripe event created up to {_when(summary.cursor)} is in the inbox.")

    def _drain(self) -> None:
        applied = 0
        while done := inbox_drain():
            applied += done
        waiting = StripeEvent.objects.filter(
            status__in=[EventStatus.RECEIVED, EventStatus.FAILED]
        ).count()
        self.stdout.write(
            f"Applied {applied} events to gifts and the ledger (types we do not book are "
            "only kept for the record)."
        )
        if waiting:
            self.stdout.write(
                f"{waiting} events are still waiting: the workers retry failed ones with backoff."
            )


def _since(value: str | None) -> int | None:
    """The Unix time just before the given Amsterdam day starts (the list is `created > t`)."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since must be a date as YYYY-MM-DD, not {value!r}") from None
    today = timezone.localdate()
    if day > today:
        raise CommandError(f"--since {day} is in the future")
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.get_default_timezone())
    return max(0, int(start.timestamp()) - 1)


def _when(timestamp: int) -> str:
    if timestamp <= 0:
        return "the beginning"
    moment = datetime.fromtimestamp(timestamp, tz=timezone.get_default_timezone())
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")
