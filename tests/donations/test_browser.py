"""One monthly gift end to end in headless Chromium: donate page -> fake Stripe Checkout ->
signed webhooks -> our inbox in a real Celery worker -> thank-you page -> one email."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devstripe.server import FakeStripe
from donations.models import Donation, DonationStatus, RecurringDonation, RecurringState
from tests.harness.smtp import SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SESSIONS = "/v1/checkout/sessions"
DONOR = "maandgever@voorbeeld.nl"


def _point_everything_at(settings: Any, live_server: Any, fake_stripe: FakeStripe) -> None:
    settings.SITE_URL = live_server.url
    # Stripe-hosted checkout is on the fake server here. config/settings/security.py allows
    # STRIPE_API_BASE's origin when it is set at start-up; the fixture sets it later.
    csp = dict(settings.SECURE_CSP)
    csp["form-action"] = [*csp["form-action"], fake_stripe.api_base]
    settings.SECURE_CSP = csp
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)


def test_monthly_gift_with_fee_cover_from_donate_page_to_thank_you_email(
    page: Page,
    live_server: Any,
    fake_stripe: FakeStripe,
    celery_worker: Any,
    smtp_server: SmtpServer,
    settings: Any,
) -> None:
    _point_everything_at(settings, live_server, fake_stripe)
    celery_worker(
        STRIPE_API_BASE=fake_stripe.api_base,
        STRIPE_SECRET_KEY=settings.STRIPE_SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=fake_stripe.webhook_secret,
        EMAIL_URL=smtp_server.url,
        SITE_URL=live_server.url,
    )

    # Given the Dutch donate page: €25 a month, by iDEAL, covering the fee.
    page.goto(live_server.url + "/doneer/")
    page.get_by_role("radio", name="Maandelijks", exact=True).check()
    page.get_by_role("radio", name="€ 25,00", exact=True).check()
    page.get_by_role("radio", name="iDEAL", exact=True).check()
    page.get_by_label(re.compile("Ja, ik betaal de transactiekosten")).check()
    page.get_by_label(re.compile("Je e-mailadres")).fill(DONOR)
    # The live total (static JS) adds SEPA's fee: 35 ct, the extra for a monthly gift.
    expect(page.locator("#donate-total")).to_have_text(re.compile(r"25,35 per maand"))

    # When the donor continues, Checkout opens with our amount, mode and method.
    page.get_by_role("button", name="Verder naar betalen").click()
    expect(page.get_by_test_id("amount")).to_have_text(re.compile(r"€25,35 per month"))
    created = [r for r in fake_stripe.requests_to("POST", SESSIONS) if r.path == SESSIONS]
    assert len(created) == 1
    params = created[0].params
    assert params["mode"] == "subscription"
    assert params["payment_method_types"] == ["ideal"]
    assert params["line_items"][0]["price_data"]["unit_amount"] == str(2500 + 35)
    assert params["line_items"][0]["price_data"]["recurring"]["interval"] == "month"

    # And pays: Checkout sends the donor back, the webhooks go to our endpoint.
    page.get_by_role("button", name="Pay").click()
    expect(page).to_have_url(re.compile(r"/doneer/bedankt/[0-9a-f-]{36}/\?session_id=cs_test_"))

    # Then the thank-you page (updating itself, not reloading) shows the gift as paid.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Dank je wel voor je gift!", timeout=60_000
    )
    expect(
        page.get_by_text(re.compile(r"Je maandelijkse gift van €\s25,35 is gestart"))
    ).to_be_visible()
    donation = Donation.objects.get()
    assert (donation.status, donation.amount, donation.fee_cover) == (DonationStatus.PAID, 2535, 35)
    assert RecurringDonation.objects.get().state == RecurringState.ACTIVE
    assert {d.status for d in fake_stripe.deliveries} == {200}

    # And exactly one thank-you email arrives, with the link to manage the monthly gift.
    smtp_server.wait_for(1, timeout=30)
    time.sleep(2)  # room for a duplicate to show up, should the inbox send one
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0].message
    assert message["To"] == DONOR
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert f"{live_server.url}/doneer/beheer/" in str(body.get_content())
