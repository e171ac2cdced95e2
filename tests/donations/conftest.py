"""Fixtures for the donate, thank-you and manage pages (issue #4)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from donations.forms import form_token_new

GENEROUS = "100000/m"


@pytest.fixture(autouse=True)
def generous_rate_limits(settings: Any) -> None:
    """Tests share one Redis database per xdist worker: only the rate-limit tests set low
    limits, and they count under addresses no other test uses."""
    settings.DONATIONS_RATE_CHECKOUT_IP = GENEROUS
    settings.DONATIONS_RATE_CHECKOUT_EMAIL = GENEROUS


@pytest.fixture
def news_wording(db: None) -> Any:
    """The campaign's donor-news consent wording (seeded by a migration; transactional tests
    flush it, so make sure)."""
    from campaign.selectors import consent_texts_current
    from campaign.services import consent_texts_ensure_defaults

    consent_texts_ensure_defaults()
    return {language: consent_texts_current(language)["donor_news"] for language in ("nl", "en")}


@pytest.fixture
def unique_ip() -> Callable[[], str]:
    """An address from TEST-NET-2 no other test uses (rate limits count per address)."""
    return lambda: f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
def unique_email() -> Callable[[], str]:
    return lambda: f"gever-{uuid.uuid4().hex[:12]}@voorbeeld.nl"


def donate_data(**overrides: Any) -> dict[str, Any]:
    """A valid donate form: €25 once by iDEAL, no fee cover, anonymous."""
    data: dict[str, Any] = {
        "frequency": "one_off",
        "amount": "2500",
        "other_amount": "",
        "method": "ideal",
        "form_token": form_token_new(),
        "website": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def run_inbox(fake: Any) -> None:
    """Feed every event the fake emitted so far through our inbox, as the worker would."""
    from donations.inbox import stripe_event_process, stripe_event_receive
    from donations.models import EventStatus, StripeEvent

    for event in fake.events():
        stripe_event_receive(event=event, via="webhook")
    waiting = StripeEvent.objects.filter(status__in=[EventStatus.RECEIVED, EventStatus.FAILED])
    for row_id in waiting.order_by("pk").values_list("pk", flat=True):
        stripe_event_process(event_row_id=row_id)
