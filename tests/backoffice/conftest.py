"""Staff accounts with roles and second-factor devices, and clients logged in as them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from donations.models import (
    Donation,
    DonorNotice,
    PayoutLine,
    RecurringDonation,
    StripeCampaign,
    StripeEvent,
    Transaction,
)
from mailing.models import Mailing, Segment, Sequence, SequenceStep
from tests.factories import CampaignFactory, StoryFactory, UserFactory
from tests.staff import verified_client

__all__ = ["verified_client"]

PASSWORD = "correct horse battery staple"


def admin_url(tail: str = "") -> str:
    return f"/{settings.ADMIN_PATH}{tail}"


def code_for(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    """The code an authenticator app shows now (or `offset_steps` periods from now)."""
    return f"{totp(device.bin_key, step=device.step, drift=offset_steps):06d}"


@pytest.fixture(autouse=True)
def _fresh_login_counters() -> None:
    # Failed-login counters live in this process's own Redis database: start each test at zero.
    cache.clear()


@pytest.fixture
def make_staff() -> Callable[..., Any]:
    def make(role: str | None = None, *, device: bool = True) -> Any:
        user = UserFactory()
        user.set_password(PASSWORD)
        user.save()
        if role is not None:
            user.groups.add(Group.objects.get(name=role))
        if device:
            TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        return user

    return make


@pytest.fixture
def finance_rows() -> dict[str, Any]:
    """One row of every donations model, so every change URL points at a real record."""
    donation = Donation.objects.create(amount=2500, frequency="one_off", status="paid")
    recurring = RecurringDonation.objects.create(amount=1000)
    transaction = Transaction.objects.create(
        kind="gift",
        donation=donation,
        amount=2500,
        fee=63,
        net=2437,
        currency="eur",
        stripe_object="ch_backoffice",
        occurred_at=timezone.now(),
    )
    event = StripeEvent.objects.create(
        stripe_id="evt_backoffice", type="charge.succeeded", payload={}
    )
    payout_line = PayoutLine.objects.create(
        payout="po_1",
        balance_transaction="txn_backoffice",
        type="charge",
        amount=2500,
        fee=63,
        net=2437,
        currency="eur",
    )
    notice = DonorNotice.objects.create(kind="thanks", key="thanks:backoffice", donation=donation)
    mapping = StripeCampaign.objects.create(
        stripe_id="plink_backoffice", campaign=CampaignFactory()
    )
    return {
        "donation": donation,
        "recurringdonation": recurring,
        "transaction": transaction,
        "stripeevent": event,
        "payoutline": payout_line,
        "donornotice": notice,
        "stripecampaign": mapping,
    }


@pytest.fixture
def mailing_rows() -> dict[str, Any]:
    story = StoryFactory()
    sequence = Sequence.objects.create(name="Welkom", slug="welkom", trigger="confirmed")
    step = SequenceStep.objects.create(
        sequence=sequence, position=1, delay=timedelta(0), story=story, subject_nl="Hoi"
    )
    segment = Segment.objects.create(name="Iedereen", filter={})
    mailing = Mailing.objects.create(name="Kerst", subject_nl="Kerst", segment=segment, story=story)
    return {"sequence": sequence, "sequencestep": step, "segment": segment, "mailing": mailing}
