"""The donate page behind a reverse proxy (TRUSTED_PROXY_COUNT=1): every request arrives from
the proxy's address, the checkout limit and the recorded client_ip (which the card-testing
defence counts declines by) follow the address the proxy appended, not what a donor wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from devstripe.server import FakeStripe
from donations.models import Donation
from tests.donations.conftest import donate_data

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"


@pytest.fixture(autouse=True)
def one_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.CLIENT_IP_META_KEY = "HTTP_X_FORWARDED_FOR"
    settings.DONATIONS_RATE_CHECKOUT_IP = "2/h"  # fixed windows: a minute's could end mid-test


def _donate(client: Client, forwarded_for: str, email: str) -> Any:
    return client.post(
        "/doneer/",
        donate_data(email=email),
        REMOTE_ADDR=PROXY,
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_one_donors_limit_does_not_stop_another_behind_the_same_proxy(
    client: Client,
    fake_stripe: FakeStripe,
    unique_ip: Callable[[], str],
    unique_email: Callable[[], str],
) -> None:
    first, second = unique_ip(), unique_ip()

    first_answers = [_donate(client, first, unique_email()).status_code for _ in range(3)]
    second_answer = _donate(client, second, unique_email()).status_code

    assert first_answers == [303, 303, 429]
    assert second_answer == 303
    assert sorted(Donation.objects.values_list("client_ip", flat=True)) == sorted(
        [first, first, second]
    )


def test_an_address_the_donor_wrote_is_not_believed(
    client: Client,
    fake_stripe: FakeStripe,
    unique_ip: Callable[[], str],
    unique_email: Callable[[], str],
) -> None:
    blocked, donor = unique_ip(), unique_ip()
    for _ in range(3):
        _donate(client, blocked, unique_email())

    # The donor wrote the blocked address; the proxy appended the donor's own.
    response = _donate(client, f"{blocked}, {donor}", unique_email())

    assert response.status_code == 303
    assert Donation.objects.filter(client_ip=donor).count() == 1
