"""ANBI periodic-gift agreements (issue #7): a monthly gift set up and paid through the fake
Stripe's real signed webhooks; agreements refuse a term under five years, number themselves
uniquely, print what the Belastingdienst asks, and warn when a year's gifts fall short."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from backoffice.roles import FINANCE, MARKETING
from config.settings.donations import rsin_is_valid
from devstripe.server import FakeStripe
from donations import agreements, checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain
from donations.models import (
    Frequency,
    Method,
    PeriodicGiftAgreement,
    RecurringDonation,
)
from donations.templatetags.donations import euros
from tests.backoffice.conftest import admin_url
from tests.finance.test_statements import pdf_text, staff_client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
DONOR = "periodiek@voorbeeld.nl"


def _settle(fake: FakeStripe) -> None:
    fake.wait_for_deliveries()
    inbox_drain()


@pytest.fixture
def monthly(fake_stripe: FakeStripe, live_server: Any) -> RecurringDonation:
    """A monthly gift of € 15 whose first payment went through, mandate and all."""
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=1500,
            frequency=Frequency.MONTHLY,
            method=Method.IDEAL,
            email=DONOR,
            name="Pieter Periodiek",
            language="nl",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    fake_stripe.complete_checkout(donation.stripe_checkout_session, "paid", "ideal")
    _settle(fake_stripe)
    recurring = RecurringDonation.objects.get()
    assert recurring.mandate_reference
    return recurring


def _agreement(recurring: RecurringDonation, **terms: Any) -> PeriodicGiftAgreement:
    values = {"yearly_amount": 3000, "start_year": timezone.localdate().year, "term_years": 5}
    return agreements.agreement_create(recurring=recurring, **{**values, **terms})


def test_a_term_under_five_years_is_refused_and_nothing_is_stored(
    monthly: RecurringDonation,
) -> None:
    with pytest.raises(agreements.AgreementError, match="minstens 5 jaar"):
        _agreement(monthly, term_years=4)

    assert not PeriodicGiftAgreement.objects.exists()
    # The database refuses it too, whoever writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        PeriodicGiftAgreement.objects.create(
            recurring=monthly,
            transaction_number="STS-X",
            yearly_amount=3000,
            start_year=2026,
            term_years=4,
            charity_name="x",
            charity_rsin="123456782",
            donor_name="x",
        )


def test_each_agreement_has_its_own_transaction_number(monthly: RecurringDonation) -> None:
    year = timezone.localdate().year
    first = _agreement(monthly)
    agreements.agreement_cancel(agreement=first)
    second = _agreement(monthly)

    assert re.fullmatch(rf"STS-{year}-\d{{6}}", first.transaction_number)
    assert first.transaction_number != second.transaction_number
    # Snapshots of the charity and the mandate at the time of the agreement.
    assert (second.charity_rsin, second.mandate_reference) == (
        settings.CHARITY_RSIN,
        monthly.mandate_reference,
    )
    assert second.donor_name == "Pieter Periodiek"
    with pytest.raises(IntegrityError), transaction.atomic():
        PeriodicGiftAgreement.objects.filter(pk=second.pk).update(
            transaction_number=first.transaction_number
        )


def test_overlapping_agreements_for_one_monthly_gift_are_refused(
    monthly: RecurringDonation,
) -> None:
    _agreement(monthly)

    with pytest.raises(agreements.AgreementError):
        _agreement(monthly, start_year=timezone.localdate().year + 1)


def test_the_pdf_names_the_transaction_number_rsin_amount_term_and_mandate(
    monthly: RecurringDonation, tmp_path: Path
) -> None:
    agreement = _agreement(monthly, yearly_amount=18000, term_years=6)

    text = pdf_text(agreements.agreement_pdf(agreement), tmp_path)

    flat = " ".join(text.split())
    assert agreement.transaction_number in flat
    assert f"RSIN {settings.CHARITY_RSIN}" in flat
    with translation.override("nl"):
        assert euros(18000).replace("\xa0", " ") in flat
    assert f"6 jaar ({agreement.start_year} tot en met {agreement.start_year + 5})" in flat
    assert monthly.mandate_reference in flat
    assert "Pieter Periodiek" in flat
    assert "Overeenkomst periodieke gift in geld" in flat


def test_a_year_short_of_the_agreed_amount_is_flagged_until_the_gifts_reach_it(
    monthly: RecurringDonation, fake_stripe: FakeStripe
) -> None:
    year = timezone.localdate().year
    agreement = _agreement(monthly, yearly_amount=3000)

    # One payment of € 15 against € 30 agreed: short.
    short = agreements.agreements_short(year=year)
    assert [(s.agreement.pk, s.received, s.missing) for s in short] == [(agreement.pk, 1500, 1500)]
    client = staff_client(FINANCE)
    page = client.get(admin_url(f"donations/periodicgiftagreement/?short_in={year}"))
    assert page.status_code == 200
    assert f'data-shortfall="{agreement.transaction_number}"' in page.content.decode()

    # The next month's SEPA debit arrives: € 30 received, nothing short any more.
    fake_stripe.renew(monthly.stripe_subscription or "")
    _settle(fake_stripe)

    assert agreements.agreements_short(year=year) == []
    page = client.get(admin_url(f"donations/periodicgiftagreement/?short_in={year}"))
    assert "data-shortfall=" not in page.content.decode()
    # A cancelled agreement is never short.
    agreements.agreement_cancel(agreement=agreement)
    assert agreements.agreements_short(year=year) == []


def test_finance_records_an_agreement_in_the_back_office_and_a_short_term_is_refused(
    monthly: RecurringDonation,
) -> None:
    client = staff_client(FINANCE)
    form = {
        "recurring": monthly.pk,
        "yearly_euros": "180.00",
        "start_year": timezone.localdate().year,
        "term_years": 4,
        "donor_name": "",
        "donor_address": "Dorpsstraat 1, 1234 AB Ergens",
    }

    refused = client.post(admin_url("donations/periodicgiftagreement/add/"), form)
    made = client.post(admin_url("donations/periodicgiftagreement/add/"), {**form, "term_years": 5})

    assert refused.status_code == 200
    assert "minstens 5 jaar" in refused.content.decode()
    assert made.status_code == 302
    agreement = PeriodicGiftAgreement.objects.get()
    assert (agreement.yearly_amount, agreement.term_years) == (18000, 5)
    assert agreement.donor_address == "Dorpsstraat 1, 1234 AB Ergens"
    pdf = client.get(admin_url(f"donations/periodicgiftagreement/{agreement.pk}/pdf/"))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    client.post(
        admin_url("donations/periodicgiftagreement/"),
        {"action": "mark_signed", "_selected_action": [agreement.pk]},
    )
    agreement.refresh_from_db()
    assert agreement.state == "signed"
    assert agreement.signed_at is not None
    # The audit log has the signature, by the finance user who recorded it.
    signed = LogEntry.objects.get_for_object(agreement).filter(action=LogEntry.Action.UPDATE)
    (entry,) = signed
    assert entry.changes_dict["state"][1] == "signed"
    assert entry.actor is not None
    assert list(entry.actor.groups.values_list("name", flat=True)) == [FINANCE]


def test_marketing_gets_403_on_the_agreement_pages(monthly: RecurringDonation) -> None:
    agreement = _agreement(monthly)
    urls = [
        "donations/periodicgiftagreement/",
        "donations/periodicgiftagreement/add/",
        f"donations/periodicgiftagreement/{agreement.pk}/change/",
        f"donations/periodicgiftagreement/{agreement.pk}/pdf/",
    ]
    client = staff_client(MARKETING)

    assert {u: client.get(admin_url(u)).status_code for u in urls} == dict.fromkeys(urls, 403)
    assert client.post(admin_url(urls[1]), {"recurring": monthly.pk}).status_code == 403
    assert PeriodicGiftAgreement.objects.count() == 1


def test_the_rsin_setting_must_pass_the_eleven_test() -> None:
    assert rsin_is_valid("123456782")
    assert rsin_is_valid(settings.CHARITY_RSIN)
    assert not rsin_is_valid("123456789")
    assert not rsin_is_valid("12345678")
    assert not rsin_is_valid("12345678a")

    started = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        env={**os.environ, "CHARITY_RSIN": "123456789"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode != 0
    assert "CHARITY_RSIN must be 9 digits passing the eleven-test" in started.stderr
