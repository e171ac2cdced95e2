"""The campaign of a gift from another door, set by finance in the back office without code:
a Payment Link, price or product id -> one of our campaigns (donations.StripeCampaign),
applied when the gift is booked and shown in the export and the monthly summary."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone

from backoffice.roles import FINANCE, MARKETING
from devstripe.server import FakeStripe
from donations.inbox import inbox_drain
from donations.models import Donation, RecurringDonation, StripeCampaign
from donations.selectors import monthly_summary
from tests.factories import CampaignFactory, UserFactory
from tests.staff import verified_client

pytestmark = pytest.mark.django_db(transaction=True)
ADD_URL = f"/{django_settings.ADMIN_PATH}donations/stripecampaign/add/"


@pytest.fixture
def stripe_world(fake_stripe: FakeStripe, live_server: Any, settings: Any) -> FakeStripe:
    settings.SITE_URL = live_server.url
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    fake_stripe.auto_deliver = False
    return fake_stripe


def _deliver(fake: FakeStripe) -> None:
    assert set(fake.deliver(fake.events(), times=2, shuffle=True)) == {200}
    inbox_drain()


def _staff(role: str) -> Any:
    user = UserFactory()
    user.groups.add(Group.objects.get(name=role))
    return verified_client(user)


def _export_gifts(tmp_path: Path) -> list[dict[str, str]]:
    today = timezone.localdate()
    out = tmp_path / "export.csv"
    call_command(
        "export_transactions",
        "--since",
        (today - timedelta(days=1)).isoformat(),
        "--until",
        (today + timedelta(days=1)).isoformat(),
        "--output",
        str(out),
    )
    return [r for r in csv.DictReader(io.StringIO(out.read_text())) if r["kind"] == "gift"]


def test_finance_maps_a_payment_link_to_a_campaign_and_its_gifts_carry_it(
    stripe_world: FakeStripe, tmp_path: Path
) -> None:
    campaign = CampaignFactory(slug="winterhulp")
    mapped = stripe_world.payment_link_pay(
        amount=4000, email="link@voorbeeld.nl", name="Lotte Link", method="card"
    )
    stripe_world.payment_link_pay(
        amount=1500, email="ander@voorbeeld.nl", name="Anna Ander", method="ideal"
    )

    # Finance staff name the link's campaign in the back office before the events arrive.
    page = _staff(FINANCE).post(
        ADD_URL,
        {"stripe_id": mapped["payment_link"], "campaign": campaign.pk, "note": "Instagram"},
    )
    assert page.status_code == 302, page.content.decode()[-2000:]
    _deliver(stripe_world)

    assert dict(Donation.objects.values_list("amount", "campaign__slug")) == {
        4000: "winterhulp",
        1500: None,
    }
    gifts = {r["gross"]: r["campaign"] for r in _export_gifts(tmp_path)}
    assert gifts == {"40.00": "winterhulp", "15.00": ""}
    today = timezone.localdate()
    summary = monthly_summary(today.year, today.month)
    by_campaign = {(line.channel, line.campaign): line.gifts for line in summary.lines}
    assert by_campaign == {("payment_link", "winterhulp"): 4000, ("payment_link", ""): 1500}


def test_a_dashboard_subscription_mapped_by_its_price_books_every_payment_to_it(
    stripe_world: FakeStripe,
) -> None:
    campaign = CampaignFactory(slug="maandgevers")
    subscription = stripe_world.dashboard_subscription(
        amount=1500, email="maand@voorbeeld.nl", name="Maud Maand", method="sepa_debit"
    )
    stripe_world.renew(subscription["id"])
    price = subscription["items"]["data"][0]["price"]["id"]
    StripeCampaign.objects.create(stripe_id=price, campaign=campaign)

    _deliver(stripe_world)

    assert RecurringDonation.objects.get().campaign_id == campaign.pk
    assert list(Donation.objects.values_list("campaign_id", flat=True)) == [campaign.pk] * 2


def test_an_invoice_for_a_mapped_product_is_booked_to_its_campaign(
    stripe_world: FakeStripe,
) -> None:
    campaign = CampaignFactory(slug="bedrijven")
    invoice = stripe_world.invoice_pay(amount=25000, email="bv@voorbeeld.nl", name="Bedrijf BV")
    product = invoice["lines"]["data"][0]["pricing"]["price_details"]["product"]
    StripeCampaign.objects.create(stripe_id=product, campaign=campaign)

    _deliver(stripe_world)

    donation = Donation.objects.get()
    assert (donation.amount, donation.channel, donation.campaign_id) == (
        25000,
        "invoice",
        campaign.pk,
    )


def test_metadata_naming_one_of_our_campaigns_goes_before_the_mapping(
    stripe_world: FakeStripe,
) -> None:
    named, mapped = CampaignFactory(slug="genoemd"), CampaignFactory(slug="gekoppeld")
    subscription = stripe_world.dashboard_subscription(
        amount=1000,
        email="meta@voorbeeld.nl",
        name="Mia Meta",
        metadata={"campaign": "genoemd"},
    )
    product = subscription["items"]["data"][0]["price"]["product"]
    StripeCampaign.objects.create(stripe_id=product, campaign=mapped)

    _deliver(stripe_world)

    assert RecurringDonation.objects.get().campaign_id == named.pk


def test_an_id_that_is_no_link_price_or_product_is_refused_clearly(
    stripe_world: FakeStripe,
) -> None:
    campaign = CampaignFactory()
    client = _staff(FINANCE)

    page = client.post(ADD_URL, {"stripe_id": "https://buy.stripe.com/x", "campaign": campaign.pk})

    assert page.status_code == 200
    assert "plink_" in page.content.decode()  # the error says what to enter
    assert not StripeCampaign.objects.exists()


def test_marketing_cannot_change_where_gifts_are_booked(stripe_world: FakeStripe) -> None:
    campaign = CampaignFactory()

    page = _staff(MARKETING).post(ADD_URL, {"stripe_id": "plink_abc", "campaign": campaign.pk})

    assert page.status_code == 403
    assert not StripeCampaign.objects.exists()
