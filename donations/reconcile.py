"""Feed every Stripe event we missed through the inbox. Stripe keeps events for 30 days."""

from __future__ import annotations

import structlog
from django.db import transaction

from donations import stripe_api
from donations.inbox import stripe_event_receive
from donations.models import SyncCursor

log = structlog.get_logger(__name__)
CURSOR = "stripe-events"
# Events can become visible in the list a little after their `created` time: re-read a margin.
OVERLAP_SECONDS = 300


def reconcile_stripe() -> int:
    """List events since the stored cursor; store the ones the webhook never delivered."""
    with transaction.atomic():
        cursor, _ = SyncCursor.objects.select_for_update().get_or_create(name=CURSOR)
        since = max(0, cursor.stripe_created - OVERLAP_SECONDS)
        added, newest = 0, cursor.stripe_created
        for event in stripe_api.events_since(since):
            if stripe_event_receive(event=event, via="reconcile"):
                added += 1
            newest = max(newest, int(event["created"]))
        cursor.stripe_created = newest
        cursor.save(update_fields=["stripe_created", "updated_at"])
    if added:
        log.warning("donations.reconcile_found_missed_events", count=added)
    return added
