"""Gifts in the AVG export, and erasure that keeps the books but not the person."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from devstripe.server import FakeStripe
from donations.models import StripeEvent, Transaction
from tests.campaign.test_personal_data import _rows_containing
from tests.donations.gifts import paid_gift
from tests.factories import SupporterFactory

pytestmark = pytest.mark.django_db(transaction=True)
EMAIL = "Fenna.Gift-Uniek@Voorbeeld.nl"
NAME = "Fenna Uniekenaam"


def _export(email: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("supporter_export", email, stdout=out)
    return json.loads(out.getvalue())


def test_export_lists_the_persons_gifts(fake_stripe: FakeStripe, live_server: Any) -> None:
    SupporterFactory(email=EMAIL.lower())
    donation = paid_gift(fake_stripe, live_server, amount=5000, email=EMAIL, name=NAME)

    document = _export(EMAIL)

    assert [(g["uuid"], g["amount"], g["donor_name"]) for g in document["gifts"]] == [
        (str(donation.uuid), 5000, NAME)
    ]


def test_erase_pseudonymises_gifts_and_scrubs_stored_stripe_events(
    fake_stripe: FakeStripe, live_server: Any
) -> None:
    SupporterFactory(email=EMAIL.lower())
    donation = paid_gift(fake_stripe, live_server, amount=5000, email=EMAIL, name=NAME)
    ledger_before = list(Transaction.objects.values_list("kind", "amount", "fee", "net"))
    assert _rows_containing(EMAIL.lower())  # in the donation and in Stripe's event payloads
    assert StripeEvent.objects.filter(payload__icontains=EMAIL.lower()).exists() or any(
        EMAIL.lower() in json.dumps(e.payload).lower() for e in StripeEvent.objects.all()
    )

    call_command("supporter_erase", EMAIL, stdout=io.StringIO())

    donation.refresh_from_db()
    assert donation.donor_email == ""
    assert donation.donor_name.startswith("anon-")
    assert donation.amount == 5000  # the books keep the gift
    assert list(Transaction.objects.values_list("kind", "amount", "fee", "net")) == ledger_before
    for value in (EMAIL, NAME):
        assert _rows_containing(value) == [], value
    assert _export(EMAIL)["found"] is False
