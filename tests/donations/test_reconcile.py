"""Reconcile: Stripe's event list read back into the inbox, page by page, once per event
whatever the webhook already delivered; `manage.py reconcile_stripe` with --since and
--dry-run."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from devstripe.server import FakeStripe
from donations.inbox import inbox_drain
from donations.models import EventStatus, StripeEvent, SyncCursor
from donations.reconcile import CURSOR, RUN_LOCK, reconcile_run, reconcile_stripe
from tests.donations.reconcile_gifts import expected_ledger, ledger, paid_gift

pytestmark = pytest.mark.django_db(transaction=True)
DAY = 24 * 3600


@pytest.fixture
def missed(fake_stripe: FakeStripe) -> FakeStripe:
    """The fake Stripe with its webhooks switched off: every event is one we missed."""
    fake_stripe.auto_deliver = False
    return fake_stripe


def _stored_ids() -> set[str]:
    return set(StripeEvent.objects.values_list("stripe_id", flat=True))


def _ids(events: list[dict[str, Any]]) -> set[str]:
    return {event["id"] for event in events}


def _decimal_fields(value: Any) -> list[str]:
    """The `*_decimal` strings anywhere in an object (Stripe sends them as strings)."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k.endswith("_decimal") and isinstance(v, str)]
        return found + [d for v in value.values() for d in _decimal_fields(v)]
    if isinstance(value, list):
        return [d for v in value for d in _decimal_fields(v)]
    return []


def test_subscription_and_invoice_events_are_stored_as_sent_and_booked(
    missed: FakeStripe,
) -> None:
    # Given a monthly gift (subscription, invoice: fields like unit_amount_decimal) and a
    # one-off gift, none of whose webhooks reached us.
    paid_gift(missed, monthly=True, amount=1500)
    paid_gift(missed, amount=2500)
    events = missed.events()
    decimal_events = [e for e in events if _decimal_fields(e)]
    assert {e["type"].split(".")[0] for e in decimal_events} >= {"customer", "invoice"}

    summary = reconcile_run()
    inbox_drain()

    assert summary.completed
    assert summary.stored == len(events)
    assert summary.new == Counter(e["type"] for e in events)
    assert _stored_ids() == _ids(events)
    assert set(StripeEvent.objects.values_list("via", flat=True)) == {"reconcile"}
    for event in decimal_events:  # the JSON Stripe sent, decimal strings and all
        assert StripeEvent.objects.get(stripe_id=event["id"]).payload == json.loads(
            missed.payload(event)
        )
    assert ledger() == expected_ledger(missed)
    assert not StripeEvent.objects.filter(status=EventStatus.FAILED).exists()
    # The mark is the newest event's time; the next run reads back from there, less a margin.
    assert SyncCursor.objects.get(name=CURSOR).stripe_created == max(e["created"] for e in events)


def test_events_the_webhook_stored_are_not_stored_again(
    fake_stripe: FakeStripe, live_server: Any
) -> None:
    # Given one gift whose webhooks arrived and one whose webhooks were lost.
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    paid_gift(fake_stripe)
    fake_stripe.wait_for_deliveries()
    delivered = fake_stripe.events()
    fake_stripe.auto_deliver = False
    paid_gift(fake_stripe, amount=4000)
    lost = [e for e in fake_stripe.events() if e["id"] not in _ids(delivered)]
    assert _stored_ids() == _ids(delivered)

    first = reconcile_stripe()
    summary = reconcile_run()  # a second run re-reads the margin and finds nothing new
    inbox_drain()

    assert first == len(lost)
    assert summary.stored == 0
    assert summary.already_stored == summary.listed.total() > 0
    assert StripeEvent.objects.count() == len(delivered) + len(lost)
    by_via = dict(StripeEvent.objects.values_list("stripe_id", "via"))
    assert {by_via[e["id"]] for e in delivered} == {"webhook"}
    assert {by_via[e["id"]] for e in lost} == {"reconcile"}
    assert ledger() == expected_ledger(fake_stripe)


def test_since_lists_from_that_day_and_leaves_the_cursor_behind_it(missed: FakeStripe) -> None:
    # Given a gift three days ago and one now.
    missed.advance_time(-3 * DAY)
    paid_gift(missed)
    old = missed.events()
    missed.advance_time(3 * DAY)
    paid_gift(missed)
    new = [e for e in missed.events() if e["id"] not in _ids(old)]
    today = timezone.localdate()
    out = StringIO()

    call_command("reconcile_stripe", "--since", today.isoformat(), "--no-drain", stdout=out)

    assert _stored_ids() == _ids(new)
    assert f"listed {len(new)}, already stored 0, stored now {len(new)}" in out.getvalue()
    # The days before were not read: the mark stays where it was, so the next run reads them.
    assert SyncCursor.objects.get(name=CURSOR).stripe_created == 0
    call_command("reconcile_stripe", stdout=StringIO())
    assert _stored_ids() == _ids(old) | _ids(new)
    assert ledger() == expected_ledger(missed)


def test_dry_run_names_the_missing_events_and_stores_nothing(
    fake_stripe: FakeStripe, live_server: Any
) -> None:
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    paid_gift(fake_stripe)
    fake_stripe.wait_for_deliveries()
    delivered = fake_stripe.events()
    fake_stripe.auto_deliver = False
    paid_gift(fake_stripe, monthly=True)
    lost = [e for e in fake_stripe.events() if e["id"] not in _ids(delivered)]
    out = StringIO()

    call_command("reconcile_stripe", "--dry-run", stdout=out)

    text = out.getvalue()
    assert _stored_ids() == _ids(delivered)
    assert not SyncCursor.objects.exists()
    assert "Dry run: nothing was stored." in text
    total = len(delivered) + len(lost)
    assert f"listed {total}, already stored {len(delivered)}, missing {len(lost)}" in text
    for event in lost:
        assert f"missing {event['id']}  {event['type']}" in text
    for event in delivered:
        assert event["id"] not in text


def test_a_run_whose_resume_point_expired_starts_over(missed: FakeStripe) -> None:
    # Given an interrupted run whose last stored event Stripe no longer lists (30 days on).
    paid_gift(missed)
    SyncCursor.objects.create(name=CURSOR, run_since=0, run_after="evt_long_gone")

    summary = reconcile_run()

    assert summary.completed
    assert _stored_ids() == _ids(missed.events())
    cursor = SyncCursor.objects.get(name=CURSOR)
    assert (cursor.run_since, cursor.run_after) == (None, "")


def test_one_run_at_a_time(missed: FakeStripe) -> None:
    paid_gift(missed)
    other = connections.create_connection("default")
    try:
        # Another run's lock, held as a run holds it: by an open transaction (which also keeps
        # its server connection behind PgBouncer in transaction pooling).
        other.set_autocommit(False)
        with other.cursor() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_LOCK])
        assert reconcile_stripe() == 0
        with pytest.raises(CommandError, match="another reconcile is running"):
            call_command("reconcile_stripe", stdout=StringIO())
        assert StripeEvent.objects.count() == 0
        other.rollback()
    finally:
        other.close()
    assert reconcile_stripe() == len(missed.events())


def test_since_must_be_a_past_date() -> None:
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("reconcile_stripe", "--since", "05-12-2026", stdout=StringIO())
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(CommandError, match="in the future"):
        call_command("reconcile_stripe", "--since", tomorrow.isoformat(), stdout=StringIO())
