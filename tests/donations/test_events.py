"""A paid gift tells the other sides through campaign's donation_succeeded event."""

from __future__ import annotations

from typing import Any

import pytest

from campaign.events import donation_reversed, donation_succeeded
from campaign.models import Supporter
from devstripe.server import FakeStripe
from donations.inbox import inbox_drain
from donations.models import DonationStatus, StripeEvent, Transaction
from tests.donations.gifts import paid_gift
from tests.factories import SupporterFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard() -> Any:
    received: list[dict[str, Any]] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        received.append({k: v for k, v in kwargs.items() if k != "signal"})

    donation_succeeded.connect(listener, weak=False)
    yield received
    donation_succeeded.disconnect(listener)


def test_gift_by_a_known_supporter_is_linked_and_announced_once(
    fake_stripe: FakeStripe, live_server: Any, heard: list[dict[str, Any]]
) -> None:
    supporter = SupporterFactory(email="noor@voorbeeld.nl")

    donation = paid_gift(
        fake_stripe, live_server, email="Noor@Voorbeeld.NL", source_token="signed-token"
    )
    fake_stripe.deliver()  # every event once more: nothing new may be announced
    inbox_drain()

    assert donation.supporter_id == supporter.pk
    assert heard == [
        {
            "donation_id": donation.pk,
            "supporter_id": supporter.pk,
            "source_token": "signed-token",
            "first_gift": True,
            "frequency": "one_off",
            "amount": 2500,  # paid_gift's €25
            "currency": "eur",
        }
    ]


def test_unknown_donor_gets_no_marketing_profile(
    fake_stripe: FakeStripe, live_server: Any, heard: list[dict[str, Any]]
) -> None:
    SupporterFactory(email="iemand.anders@voorbeeld.nl")

    donation = paid_gift(fake_stripe, live_server, email="nieuw@voorbeeld.nl")

    assert donation.supporter_id is None
    assert [event["supporter_id"] for event in heard] == [None]


def test_second_gift_is_not_a_first_gift(
    fake_stripe: FakeStripe, live_server: Any, heard: list[dict[str, Any]]
) -> None:
    SupporterFactory(email="trouw@voorbeeld.nl")

    paid_gift(fake_stripe, live_server, email="trouw@voorbeeld.nl")
    paid_gift(fake_stripe, live_server, email="trouw@voorbeeld.nl")

    assert [event["first_gift"] for event in heard] == [True, False]


def test_a_failing_listener_does_not_hold_up_the_gift(
    fake_stripe: FakeStripe, live_server: Any
) -> None:

    def broken(sender: Any, **kwargs: Any) -> None:
        # Writes, then fails: its writes must go, the gift must stay.
        SupporterFactory(email="half-written@voorbeeld.nl")
        raise RuntimeError("a listener's bug")

    donation_succeeded.connect(broken, weak=False)
    try:
        donation = paid_gift(fake_stripe, live_server, email="gever@voorbeeld.nl")
    finally:
        donation_succeeded.disconnect(broken)

    assert donation.status == DonationStatus.PAID
    assert Transaction.objects.filter(donation=donation, kind="gift").count() == 1
    assert not StripeEvent.objects.exclude(status__in=["processed", "ignored"]).exists()

    assert not Supporter.objects.filter(email="half-written@voorbeeld.nl").exists()


def _charge_of(fake: FakeStripe, donation: Any) -> str:
    return next(
        c["id"]
        for c in fake.objects("charge")
        if c["payment_intent"] == donation.stripe_payment_intent
    )


def test_a_refund_is_announced_with_what_the_gift_lost(
    fake_stripe: FakeStripe, live_server: Any
) -> None:
    told: list[dict[str, Any]] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        told.append({k: v for k, v in kwargs.items() if k != "signal"})

    donation_reversed.connect(listener, weak=False)
    try:
        donation = paid_gift(fake_stripe, live_server, amount=4000, email="gever@voorbeeld.nl")
        refund = fake_stripe.refund(_charge_of(fake_stripe, donation), amount=1500)
        fake_stripe.wait_for_deliveries()
        inbox_drain()
    finally:
        donation_reversed.disconnect(listener)

    assert told == [
        {
            "donation_id": donation.pk,
            "donation_uuid": str(donation.uuid),
            "reversal": refund["id"],
            "kind": "refund",
            "amount": 1500,
            "currency": "eur",
        }
    ]


def test_a_failing_reversal_listener_does_not_hold_up_the_refund(
    fake_stripe: FakeStripe, live_server: Any
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        SupporterFactory(email="half-written@voorbeeld.nl")
        raise RuntimeError("a listener's bug")

    donation = paid_gift(fake_stripe, live_server, amount=4000, email="gever@voorbeeld.nl")
    donation_reversed.connect(broken, weak=False)
    try:
        fake_stripe.refund(_charge_of(fake_stripe, donation))
        fake_stripe.wait_for_deliveries()
        inbox_drain()
    finally:
        donation_reversed.disconnect(broken)

    donation.refresh_from_db()
    assert donation.status == DonationStatus.REFUNDED
    assert Transaction.objects.filter(donation=donation, kind="refund").count() == 1
    assert not StripeEvent.objects.exclude(status__in=["processed", "ignored"]).exists()
    assert not Supporter.objects.filter(email="half-written@voorbeeld.nl").exists()
