"""Fixtures for the supporter tests (issue #3)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from campaign.models import ConsentText, Topic
from campaign.selectors import consent_texts_current
from campaign.services import consent_texts_ensure_defaults

GENEROUS = "100000/m"


@pytest.fixture(autouse=True)
def generous_rate_limits(settings: Any) -> None:
    """Tests share one Redis database per xdist worker: only the rate-limit tests set low
    limits, and they count under addresses no other test uses."""
    settings.SUPPORTERS_RATE_SIGNUP_IP = GENEROUS
    settings.SUPPORTERS_RATE_SIGNUP_EMAIL = GENEROUS
    settings.SUPPORTERS_RATE_RESEND_IP = GENEROUS
    settings.SUPPORTERS_RATE_RESEND_EMAIL = GENEROUS


@pytest.fixture
def consent_texts(db: None) -> dict[str, dict[str, ConsentText]]:
    """The seeded wording (migration 0003); transactional tests flush it, so make sure."""
    consent_texts_ensure_defaults()
    return {language: consent_texts_current(language) for language in ("nl", "en")}


@pytest.fixture
def unique_email() -> Any:
    def make(prefix: str = "steun") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}@voorbeeld.nl"

    return make


def topics() -> list[str]:
    return list(Topic.values)


@pytest.fixture
def unique_ip() -> Any:
    """An address of its own (a fresh IPv6 /64), so rate-limit counters left in Redis by
    earlier runs or other tests never count against this test."""

    def make() -> str:
        block = uuid.uuid4().hex
        return f"2001:db8:{block[:4]}:{block[4:8]}::1"

    return make
