"""A drain batch books its plain gifts together (donations.gift_batch) and the other events
through their handlers. The books, audit entries, thank-you notices and donation_succeeded
events are what the handlers alone make of the same gifts, applied one event at a time
(stripe_event_process), and what the plan of the gifts says."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaign.events import gifts_connect, gifts_disconnect
from campaign.models import Supporter
from devstripe.server import FakeStripe
from donations import charge_reads, checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain, stripe_event_process, stripe_event_receive
from donations.models import (
    Donation,
    DonationStatus,
    DonorNotice,
    EventStatus,
    Frequency,
    Method,
    NoticeKind,
    StripeEvent,
    Transaction,
    TransactionKind,
)
from mailing.models import Enrollment, GiftAttribution, Sequence
from tests.factories import SupporterFactory
from tests.mailing.factories import SequenceFactory, SequenceStepFactory

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Gift:
    method: Method
    amount: int
    donor: str  # the address's local part
    supporter: str | None  # whose supporter profile has that address, if anyone's
    first_gift: bool
    refunded_first: int = 0  # cents refunded, its event applied before the gift's own
    delivered: int = 1  # times its session's event is delivered


# Anna is a supporter (her address stored in capitals) giving twice in the batch; Bob is a
# supporter who gave before; Carla is not a supporter; Daan's gift is refunded in part before
# its own events are applied (not plain: its handlers book it); Eva's session is delivered twice.
PLAN = [
    Gift(Method.IDEAL, 2500, "anna", "anna", first_gift=True),
    Gift(Method.CARD, 1000, "bob", "bob", first_gift=False),
    Gift(Method.BANCONTACT, 4000, "anna", "anna", first_gift=False),
    Gift(Method.IDEAL, 1500, "carla", None, first_gift=True),
    Gift(Method.CARD, 3000, "daan", None, first_gift=True, refunded_first=500),
    Gift(Method.IDEAL, 700, "eva", None, first_gift=True, delivered=2),
]


@pytest.fixture(autouse=True)
def _nothing_read_ahead_yet() -> None:
    charge_reads._known.clear()


@pytest.fixture
def succeeded() -> Iterator[list[dict[str, Any]]]:
    """Every donation_succeeded sent and not rolled back, as a listener sees it."""
    heard: list[dict[str, Any]] = []

    def listen(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    gifts_connect(listen, dispatch_uid="test_gift_batch")
    yield heard
    gifts_disconnect(dispatch_uid="test_gift_batch")


def _world(fake: FakeStripe, world: str) -> tuple[list[Donation], list[dict[str, Any]]]:
    """The plan's gifts paid at Stripe, for addresses of `world`; returns the donations and
    the events to deliver, in the order Stripe would: each gift's session, payment intent and
    charge events (a refund applied before is returned first, apart)."""
    supporters: dict[str, Supporter] = {
        name: SupporterFactory.create(email=f"{world}-{name}@VOORBEELD.nl".upper())
        for name in {g.supporter for g in PLAN if g.supporter}
    }
    earlier = Donation.objects.create(
        amount=500,
        frequency=Frequency.ONE_OFF,
        supporter=supporters["bob"],
        status=DonationStatus.PAID,
    )
    Transaction.objects.create(
        kind=TransactionKind.GIFT,
        donation=earlier,
        amount=500,
        fee=0,
        net=500,
        currency="eur",
        stripe_object=f"ch_earlier_{world}",
        occurred_at=earlier.created_at,
    )
    seen = {e["id"] for e in fake.events()}
    donations = []
    for gift in PLAN:
        donation = checkout.donation_create(
            request=GiftRequest(
                amount=gift.amount,
                frequency=Frequency.ONE_OFF,
                method=gift.method,
                email=f"{world}-{gift.donor}@voorbeeld.nl",
                name=gift.donor.title(),
            )
        )
        checkout.checkout_start(donation=donation)
        donation.refresh_from_db()
        fake.complete_checkout(donation.stripe_checkout_session, "paid", gift.method)
        donations.append(donation)
    events = [e for e in fake.events() if e["id"] not in seen]
    for gift, donation in zip(PLAN, donations, strict=True):
        session = next(
            e
            for e in events
            if e["type"] == "checkout.session.completed"
            and e["data"]["object"]["id"] == donation.stripe_checkout_session
        )
        events += [session] * (gift.delivered - 1)
    return donations, events


def _refunds_first(fake: FakeStripe, donations: list[Donation]) -> list[dict[str, Any]]:
    seen = {e["id"] for e in fake.events()}
    for gift, donation in zip(PLAN, donations, strict=True):
        if gift.refunded_first:
            session = fake.get(donation.stripe_checkout_session, ["payment_intent"])
            fake.refund(session["payment_intent"]["latest_charge"], gift.refunded_first)
    return [e for e in fake.events() if e["id"] not in seen]


def _store(events: list[dict[str, Any]]) -> list[int]:
    for event in events:
        stripe_event_receive(event=event, via="webhook")
    ids = [e["id"] for e in events]
    return list(
        StripeEvent.objects.filter(stripe_id__in=ids).order_by("pk").values_list("pk", flat=True)
    )


def _by_handlers(fake: FakeStripe) -> list[Donation]:
    donations, events = _world(fake, "handlers")
    for pk in _store(_refunds_first(fake, donations)):
        stripe_event_process(event_row_id=pk)
    for pk in _store(_sessions_first(events)):
        stripe_event_process(event_row_id=pk)
    return donations


def _in_batches(fake: FakeStripe) -> tuple[list[Donation], list[str]]:
    donations, events = _world(fake, "batch")
    _store(_refunds_first(fake, donations))
    inbox_drain()
    _store(events)
    with CaptureQueriesContext(connection) as statements:
        inbox_drain()
    return donations, [s["sql"] for s in statements.captured_queries]


def _sessions_first(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order a drain batch applies a gift's events in (donations.inbox._in_order)."""
    return sorted(events, key=lambda e: not e["type"].startswith("checkout.session."))


def _books(donations: list[Donation]) -> list[dict[str, Any]]:
    """What each gift came to, with the world's own ids replaced by names."""
    kind = ContentType.objects.get_for_model(Donation)
    ledger_kind = ContentType.objects.get_for_model(Transaction)
    books = []
    for donation in donations:
        donation.refresh_from_db()
        # Ids by field: a donation's id may be a supporter's too.
        ids = {"donation": str(donation.pk), "supporter": str(donation.supporter_id)}
        names = {
            str(donation.uuid): "<uuid>",
            donation.stripe_checkout_session: "<session>",
            donation.stripe_payment_intent: "<intent>",
        }
        rows = Transaction.objects.filter(donation=donation).order_by("kind")
        names |= {row.stripe_object: f"<{row.kind}>" for row in rows}
        names |= {row.stripe_charge: "<charge>" for row in rows}
        names |= {row.stripe_balance_transaction: f"<balance {row.kind}>" for row in rows}
        entries = LogEntry.objects.filter(
            content_type=kind, object_pk=str(donation.pk)
        ) | LogEntry.objects.filter(
            content_type=ledger_kind, object_pk__in=[str(row.pk) for row in rows]
        )
        books.append(
            {
                "status": donation.status,
                "method": donation.method,
                "supporter": str(donation.supporter.email).split("-", 1)[1]
                if donation.supporter
                else None,
                "ledger": [
                    (row.kind, row.amount, row.fee, row.net, names[row.stripe_object])
                    for row in rows
                ],
                "audit": sorted(
                    (
                        entry.content_type_id == kind.pk,
                        entry.action,
                        _named(entry.changes, names, ids),
                    )
                    for entry in entries
                ),
                "notices": list(
                    DonorNotice.objects.filter(donation=donation).values_list("kind", flat=True)
                ),
                # mailing's credit for the gift, and its supporter's place in the donor series
                "credit": [
                    (amount, frequency, currency, supporter == donation.supporter_id)
                    for amount, frequency, currency, supporter in GiftAttribution.objects.filter(
                        donation_id=donation.pk
                    ).values_list("amount", "frequency", "currency", "supporter_id")
                ],
                "donor series": Enrollment.objects.filter(
                    supporter_id=donation.supporter_id,
                    sequence__trigger=Sequence.Trigger.FIRST_GIFT,
                ).count()
                if donation.supporter_id
                else None,
            }
        )
    return books


# Times of the world's own making (when its rows were written or its charges made), and ids.
_WORLDLY = {"id", "created_at", "recorded_at", "occurred_at"}


def _named(changes: Any, names: dict[str, str], ids: dict[str, str]) -> str:
    def name(field: str, value: Any) -> Any:
        if isinstance(value, list):
            return [name(field, v) for v in value]
        if field in ids:
            return f"<{field}>" if str(value) == ids[field] else value
        return names.get(str(value), value)

    return repr(sorted((f, name(f, v)) for f, v in dict(changes).items() if f not in _WORLDLY))


def test_plain_gifts_booked_together_end_as_the_handlers_book_them(
    fake_stripe: FakeStripe, succeeded: list[dict[str, Any]]
) -> None:
    # Given a donor series started by a first gift (and ended by none)
    SequenceStepFactory(
        sequence=SequenceFactory(trigger=Sequence.Trigger.FIRST_GIFT, ends_on_gift=False)
    )
    # And the plan's gifts paid at Stripe twice over, one world applied by the handlers one
    # event at a time, the other by the drain in batches
    by_handlers = _by_handlers(fake_stripe)
    heard_by_handlers = list(succeeded)
    succeeded.clear()
    in_batches, statements = _in_batches(fake_stripe)

    # Then both worlds' books, audit entries and notices are the same
    handlers_books, batch_books = _books(by_handlers), _books(in_batches)
    assert batch_books == handlers_books
    # And they are the plan's: every gift in the ledger at its amount, thanked once, linked
    # to the supporter with its address
    for gift, books in zip(PLAN, batch_books, strict=True):
        ledger = {kind: amount for kind, amount, *_ in books["ledger"]}
        refund = {TransactionKind.REFUND: -gift.refunded_first} if gift.refunded_first else {}
        assert ledger == {TransactionKind.GIFT: gift.amount, **refund}
        assert books["status"] == (
            DonationStatus.PARTIALLY_REFUNDED if gift.refunded_first else DonationStatus.PAID
        )
        assert books["method"] == gift.method
        assert books["supporter"] == (
            f"{gift.supporter}@voorbeeld.nl".upper() if gift.supporter else None
        )
        assert books["notices"] == [NoticeKind.THANKS]
        assert books["credit"] == [(gift.amount, Frequency.ONE_OFF, "eur", True)]
        # A supporter's first gift starts the series: Anna once (for her first of two)
        assert books["donor series"] == ((gift.donor == "anna") if gift.supporter else None)
    # And donation_succeeded was told once a gift, its first gift where the plan says so
    for heard, donations in [(heard_by_handlers, by_handlers), (succeeded, in_batches)]:
        told = {h["donation_id"]: (h["first_gift"], h["amount"]) for h in heard}
        assert len(heard) == len(PLAN)
        planned = zip(PLAN, donations, strict=True)
        assert told == {d.pk: (g.first_gift, g.amount) for g, d in planned}
    # And every event was applied once
    assert not StripeEvent.objects.exclude(
        status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]
    ).exists()
    # And the batch wrote the plain gifts' ledger rows in one statement, one row at a time
    # only for Daan's gift, whose refund was in the ledger before it
    inserts = [s for s in statements if s.startswith("\nINSERT INTO donations_transaction")]
    assert [("unnest" in s) for s in inserts] == [True, False]
    # And mailing credited the batch's gifts in one statement, Daan's apart
    credits = [s for s in statements if "INSERT INTO mailing_giftattribution" in s]
    assert len(credits) == 2


def test_a_listener_failing_for_one_gift_of_a_batch_costs_the_others_nothing(
    fake_stripe: FakeStripe,
) -> None:
    # Given the plan's gifts paid at Stripe, none refunded: all plain; a listener fails for one
    donations, events = _world(fake_stripe, "listener")
    failing = donations[1].pk

    def fail_for_one(sender: Any, donation_id: int, **kwargs: Any) -> None:
        if donation_id == failing:
            raise RuntimeError("a listener's bug")

    gifts_connect(fail_for_one, dispatch_uid="test_gift_batch_fail")
    try:
        # When the drain books them in one batch
        _store(events)
        inbox_drain()
    finally:
        gifts_disconnect(dispatch_uid="test_gift_batch_fail")

    # Then every gift is booked, and mailing credited every gift but the failing one's
    assert Transaction.objects.filter(
        donation__in=donations, kind=TransactionKind.GIFT
    ).count() == len(PLAN)
    credited = set(GiftAttribution.objects.values_list("donation_id", flat=True))
    assert credited == {d.pk for d in donations} - {failing}
