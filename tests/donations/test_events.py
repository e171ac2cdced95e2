"""A paid gift tells the other sides through campaign's donation_succeeded event."""

from __future__ import annotations

from typing import Any

import pytest

from campaign.events import donation_succeeded
from donations.inbox import inbox_drain
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
