"""A paid gift tells the other sides through campaign's donation_succeeded event."""

from __future__ import annotations

from typing import Any

import pytest

from campaign.events import donation_succeeded
from donations import checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain
from donations.models import Donation, Frequency, Method
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


def _paid_gift(fake: FakeStripe, live_server: Any, **request: Any) -> Donation:
    fake.set_webhook(live_server.url + "/stripe/webhook/", secret=fake.webhook_secret)
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=2500, frequency=Frequency.ONE_OFF, method=Method.IDEAL, **request
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    fake.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    fake.wait_for_deliveries()
    inbox_drain()
    donation.refresh_from_db()
    return donation


def test_gift_by_a_known_supporter_is_linked_and_announced_once(
    fake_stripe: FakeStripe, live_server: Any, heard: list[dict[str, Any]]
) -> None:
    supporter = SupporterFactory(email="noor@voorbeeld.nl")

    donation = _paid_gift(
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
        }
    ]


def test_unknown_donor_gets_no_marketing_profile(
    fake_stripe: FakeStripe, live_server: Any, heard: list[dict[str, Any]]
) -> None:
    SupporterFactory(email="iemand.anders@voorbeeld.nl")

    donation = _paid_gift(fake_stripe, live_server, email="nieuw@voorbeeld.nl")

    assert donation.supporter_id is None
    assert [event["supporter_id"] for event in heard] == [None]


def test_second_gift_is_not_a_first_gift(
    fake_stripe: FakeStripe, live_server: Any, heard: list[dict[str, Any]]
) -> None:
    SupporterFactory(email="trouw@voorbeeld.nl")

    _paid_gift(fake_stripe, live_server, email="trouw@voorbeeld.nl")
    _paid_gift(fake_stripe, live_server, email="trouw@voorbeeld.nl")

    assert [event["first_gift"] for event in heard] == [True, False]
