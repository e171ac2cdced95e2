"""A paid gift tells the other sides through campaign's donation_succeeded event."""

from __future__ import annotations

from typing import Any

import pytest

from campaign.events import donation_succeeded
from campaign.models import Supporter
from donations.inbox import inbox_drain
from donations.models import DonationStatus, StripeEvent, Transaction
from tests.donations.gifts import paid_gift
from tests.factories import SupporterFactory
from tests.fakestripe.server import FakeStripe

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
