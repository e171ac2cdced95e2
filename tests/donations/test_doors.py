"""Every door books a full gift: Payment Links, dashboard payments and subscriptions, invoices,
another site's payments. Each scenario says what the donor paid; the events reach our webhook
in a shuffled (or reversed) order, every one twice, and the gift must be in the books once,
with its donor, method, frequency and channel, and thanked once."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from campaign.models import Consent, Supporter
from devstripe.server import FakeStripe
from donations import checkout
from donations.checkout import GiftRequest
from donations.inbox import inbox_drain
from donations.models import (
    Channel,
    Donation,
    DonationStatus,
    DonorNotice,
    Frequency,
    Method,
    NoticeKind,
    RecurringDonation,
    RecurringState,
    Transaction,
    TransactionKind,
)
from donations.notices import notices_send
from donations.reconcile import reconcile_stripe
from donations.selectors import monthly_summary
from donations.statements import donor_statement
from tests.factories import CampaignFactory, SupporterFactory
from tests.harness.smtp import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stripe_world(fake_stripe: FakeStripe, live_server: Any, settings: Any) -> FakeStripe:
    """The fake account posting to our webhook only when the test says so (deliver())."""
    settings.SITE_URL = live_server.url
    fake_stripe.set_webhook(live_server.url + "/stripe/webhook/", secret=fake_stripe.webhook_secret)
    fake_stripe.auto_deliver = False
    return fake_stripe


def _deliver_and_apply(fake: FakeStripe, *, reverse: bool = False) -> None:
    """Every event so far reaches the webhook twice, shuffled (or newest first), then the
    inbox applies them, then they all come once more: nothing may change."""
    events = fake.events()
    if reverse:
        fake.deliver(list(reversed(events)), times=2)
    else:
        fake.deliver(events, times=2, shuffle=True)
    inbox_drain()
    fake.deliver(events, shuffle=True)
    inbox_drain()


def _gifts(donation: Donation) -> list[int]:
    return list(
        Transaction.objects.filter(donation=donation, kind=TransactionKind.GIFT).values_list(
            "amount", flat=True
        )
    )


def _thanks(donation: Donation) -> int:
    return DonorNotice.objects.filter(kind=NoticeKind.THANKS, donation=donation).count()


def test_a_payment_link_gift_is_a_full_gift_thanked_once(
    stripe_world: FakeStripe, smtp_server: SmtpServer
) -> None:
    stripe_world.payment_link_pay(
        amount=3500, email="sanne@voorbeeld.nl", name="Sanne de Vries", method="card"
    )

    _deliver_and_apply(stripe_world)
    notices_send()

    donation = Donation.objects.get()
    assert (donation.donor_name, donation.donor_email) == ("Sanne de Vries", "sanne@voorbeeld.nl")
    assert (donation.amount, donation.currency, donation.method) == (3500, "eur", "card")
    assert donation.frequency == Frequency.ONE_OFF
    assert donation.channel == Channel.PAYMENT_LINK
    assert donation.language == "nl"  # Checkout's locale was "auto": we cannot tell
    assert donation.status == DonationStatus.PAID
    assert donation.stripe_checkout_session == stripe_world.objects("checkout.session")[0]["id"]
    assert _gifts(donation) == [3500]
    assert Transaction.objects.filter(donation__isnull=True).count() == 0
    assert _thanks(donation) == 1
    sent = [m for m in smtp_server.messages if "sanne@voorbeeld.nl" in m.rcpt_tos]
    assert len(sent) == 1


def test_events_in_reverse_order_book_one_gift(stripe_world: FakeStripe) -> None:
    stripe_world.payment_link_pay(
        amount=1000, email="omgekeerd@voorbeeld.nl", name="Omar Omgekeerd", method="ideal"
    )

    _deliver_and_apply(stripe_world, reverse=True)

    donation = Donation.objects.get()
    assert (donation.method, donation.channel) == ("ideal", Channel.PAYMENT_LINK)
    assert _gifts(donation) == [1000]
    assert _thanks(donation) == 1


def test_a_dashboard_sepa_payment_is_booked_with_its_billing_details(
    stripe_world: FakeStripe,
) -> None:
    stripe_world.dashboard_payment(
        amount=5000, email="bank@voorbeeld.nl", name="Bea Bank", method="sepa_debit"
    )

    _deliver_and_apply(stripe_world)

    donation = Donation.objects.get()
    assert (donation.donor_name, donation.donor_email) == ("Bea Bank", "bank@voorbeeld.nl")
    assert (donation.amount, donation.method, donation.frequency) == (5000, "sepa_debit", "one_off")
    assert donation.channel == Channel.DASHBOARD
    assert donation.status == DonationStatus.PAID
    assert _gifts(donation) == [5000]
    assert _thanks(donation) == 1
    # On the donor's annual statement like any gift.
    statement = donor_statement(year=timezone.localdate().year, email="bank@voorbeeld.nl")
    assert (statement.name, statement.total) == ("Bea Bank", 5000)
    assert [(g.method, g.frequency) for g in statement.gifts] == [("sepa_debit", "one_off")]


def test_an_outside_gift_is_matched_to_a_known_supporter_never_creating_one(
    stripe_world: FakeStripe,
) -> None:
    known = SupporterFactory(email="bekend@voorbeeld.nl")
    stripe_world.dashboard_payment(amount=1000, email="Bekend@Voorbeeld.nl", name="Bo Bekend")
    stripe_world.dashboard_payment(amount=1200, email="nieuw@voorbeeld.nl", name="Nina Nieuw")

    _deliver_and_apply(stripe_world)

    matched = Donation.objects.get(amount=1000)
    stranger = Donation.objects.get(amount=1200)
    assert matched.supporter_id == known.pk
    assert stranger.supporter_id is None
    assert list(Supporter.objects.values_list("pk", flat=True)) == [known.pk]
    assert not Consent.objects.exists()


def test_another_sites_payment_is_booked_as_other_site(stripe_world: FakeStripe) -> None:
    stripe_world.dashboard_payment(
        amount=2000,
        email="elders@voorbeeld.nl",
        name="Els Elders",
        method="card",
        metadata={"order_id": "shop-123"},
    )

    _deliver_and_apply(stripe_world)

    donation = Donation.objects.get()
    assert (donation.channel, donation.method, donation.amount) == (
        Channel.OTHER_SITE,
        "card",
        2000,
    )
    assert _gifts(donation) == [2000]


def test_gifts_the_webhook_missed_are_booked_by_reconcile(stripe_world: FakeStripe) -> None:
    stripe_world.dashboard_payment(amount=2200, email="gemist@voorbeeld.nl", name="Gijs Gemist")
    stripe_world.invoice_pay(amount=3300, email="gemist@voorbeeld.nl", name="Gijs Gemist")

    reconcile_stripe()  # no webhook was delivered: Stripe's event list is all we have
    inbox_drain()

    booked = Donation.objects.order_by("amount").values_list("amount", "channel", "donor_email")
    assert list(booked) == [
        (2200, Channel.DASHBOARD, "gemist@voorbeeld.nl"),
        (3300, Channel.INVOICE, "gemist@voorbeeld.nl"),
    ]
    assert sorted(Transaction.objects.values_list("amount", flat=True)) == [2200, 3300]


def test_a_campaign_named_in_stripe_metadata_is_the_gifts(stripe_world: FakeStripe) -> None:
    campaign = CampaignFactory(slug="save-the-survivors")
    stripe_world.dashboard_payment(
        amount=2500,
        email="gericht@voorbeeld.nl",
        name="Gert Gericht",
        metadata={"campaign": "save-the-survivors"},
    )
    subscription = stripe_world.dashboard_subscription(
        amount=1000,
        email="maandgericht@voorbeeld.nl",
        name="Mees Gericht",
        metadata={"campaign": "save-the-survivors"},
    )
    stripe_world.renew(subscription["id"])

    _deliver_and_apply(stripe_world)

    # A campaign is not another site's metadata: these are still dashboard gifts.
    assert set(Donation.objects.values_list("channel", "campaign_id")) == {
        (Channel.DASHBOARD, campaign.pk)
    }
    assert Donation.objects.count() == 3  # one payment, a monthly gift's first and renewal
    assert RecurringDonation.objects.get().campaign_id == campaign.pk


def test_a_paid_invoice_is_a_gift_in_the_donors_language(stripe_world: FakeStripe) -> None:
    stripe_world.invoice_pay(
        amount=12500, email="factuur@example.org", name="Ivy Invoice", method="card", locale="en"
    )

    _deliver_and_apply(stripe_world)

    donation = Donation.objects.get()
    invoice = stripe_world.objects("invoice")[0]
    assert (donation.donor_name, donation.donor_email) == ("Ivy Invoice", "factuur@example.org")
    assert (donation.amount, donation.method, donation.frequency) == (12500, "card", "one_off")
    assert (donation.channel, donation.language) == (Channel.INVOICE, "en")
    assert donation.stripe_invoice == invoice["id"]
    assert _gifts(donation) == [12500]
    assert _thanks(donation) == 1


def test_a_dashboard_subscription_and_its_renewals_are_booked(stripe_world: FakeStripe) -> None:
    subscription = stripe_world.dashboard_subscription(
        amount=1500, email="maand@voorbeeld.nl", name="Maud Maand", method="sepa_debit"
    )
    stripe_world.renew(subscription["id"])
    stripe_world.renew(subscription["id"])

    _deliver_and_apply(stripe_world)

    recurring = RecurringDonation.objects.get()
    mandate = stripe_world.objects("mandate")[0]
    assert recurring.stripe_subscription == subscription["id"]
    assert (recurring.donor_name, recurring.donor_email) == ("Maud Maand", "maand@voorbeeld.nl")
    assert (recurring.amount, recurring.channel, recurring.language) == (
        1500,
        Channel.DASHBOARD,
        "nl",
    )
    assert recurring.state == RecurringState.ACTIVE
    assert recurring.stripe_mandate == mandate["id"]
    assert (
        recurring.mandate_reference == mandate["payment_method_details"]["sepa_debit"]["reference"]
    )
    donations = list(Donation.objects.filter(recurring=recurring))
    assert len(donations) == 3  # the first payment and two renewals
    for donation in donations:
        assert (donation.frequency, donation.method, donation.channel) == (
            Frequency.MONTHLY,
            "sepa_debit",
            Channel.DASHBOARD,
        )
        assert donation.donor_email == "maand@voorbeeld.nl"
        assert donation.status == DonationStatus.PAID
        assert _gifts(donation) == [1500]
        assert _thanks(donation) == 1
    assert Transaction.objects.filter(kind=TransactionKind.GIFT).count() == 3


def test_a_payment_link_subscription_gets_its_monthly_gift_and_mandate(
    stripe_world: FakeStripe,
) -> None:
    stripe_world.payment_link_pay(
        amount=2000,
        email="link-maand@example.org",
        name="Lena Link",
        method="ideal",
        monthly=True,
        locale="en",
    )
    session = stripe_world.objects("checkout.session")[0]
    stripe_world.renew(session["subscription"])

    _deliver_and_apply(stripe_world)

    recurring = RecurringDonation.objects.get()
    assert recurring.stripe_subscription == session["subscription"]
    assert (recurring.channel, recurring.language, recurring.amount) == (
        Channel.PAYMENT_LINK,
        "en",
        2000,
    )
    assert recurring.donor_email == "link-maand@example.org"
    assert recurring.stripe_mandate  # iDEAL's first payment set up the SEPA mandate
    methods = sorted(Donation.objects.filter(recurring=recurring).values_list("method", flat=True))
    assert methods == ["ideal", "sepa_debit"]  # the first by iDEAL, the renewal debited
    assert Transaction.objects.filter(kind=TransactionKind.GIFT).count() == 2


# --- our own gifts that end unpaid --------------------------------------------------------------


def _our_gift(fake: FakeStripe, frequency: Frequency, method: Method) -> Donation:
    donation = checkout.donation_create(
        request=GiftRequest(
            amount=2500,
            frequency=frequency,
            method=method,
            email="eigen@voorbeeld.nl",
            name="Eva Eigen",
        )
    )
    checkout.checkout_start(donation=donation)
    donation.refresh_from_db()
    return donation


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/doneer/bedankt/{uuid}/", "Je betaling is niet afgerond"),
        ("/en/donate/thanks/{uuid}/", "Your payment was not completed"),
    ],
)
def test_an_abandoned_checkout_ends_expired_and_its_page_says_so(
    stripe_world: FakeStripe, client: Client, path: str, expected: str
) -> None:
    donation = _our_gift(stripe_world, Frequency.ONE_OFF, Method.IDEAL)
    stripe_world.expire_checkout(donation.stripe_checkout_session)

    _deliver_and_apply(stripe_world)

    donation.refresh_from_db()
    assert donation.status == DonationStatus.EXPIRED
    assert not Transaction.objects.exists()
    response = client.get(path.format(uuid=donation.uuid))
    html = response.content.decode()
    assert response.status_code == 200
    assert expected in html
    assert "data-refresh-url" not in html  # nothing more is coming: no waiting
    assert f"?retry={donation.uuid}" in html  # a way to try again


def test_a_declined_attempt_then_expiry_ends_expired(stripe_world: FakeStripe) -> None:
    donation = _our_gift(stripe_world, Frequency.ONE_OFF, Method.CARD)
    stripe_world.complete_checkout(donation.stripe_checkout_session, "failed", "card")
    stripe_world.expire_checkout(donation.stripe_checkout_session)

    _deliver_and_apply(stripe_world, reverse=True)

    donation.refresh_from_db()
    assert donation.status == DonationStatus.EXPIRED


def test_a_failed_card_renewal_is_stored_as_a_card_payment(stripe_world: FakeStripe) -> None:
    first = _our_gift(stripe_world, Frequency.MONTHLY, Method.CARD)
    session = stripe_world.complete_checkout(first.stripe_checkout_session, "paid", "card")
    renewal = stripe_world.renew(session["subscription"], succeed=False)

    _deliver_and_apply(stripe_world)

    failed = Donation.objects.get(stripe_invoice=renewal["id"])
    intent = stripe_world.objects("payment_intent")[0]["id"]  # the newest: the renewal's
    assert (failed.method, failed.status, failed.frequency) == ("card", "failed", "monthly")
    assert failed.stripe_payment_intent == intent
    assert failed.recurring_id == first.recurring_id
    first.refresh_from_db()
    assert (first.method, first.status) == ("card", DonationStatus.PAID)


# --- the books: channel and campaign on every gift ----------------------------------------------


def test_every_gift_row_of_the_export_and_summary_has_method_channel_and_campaign(
    stripe_world: FakeStripe, tmp_path: Path
) -> None:
    campaign = CampaignFactory(slug="save-the-survivors")
    ours = _our_gift(stripe_world, Frequency.ONE_OFF, Method.IDEAL)
    stripe_world.complete_checkout(ours.stripe_checkout_session, "paid", "ideal")
    stripe_world.payment_link_pay(
        amount=4000, email="link@voorbeeld.nl", name="Lotte Link", method="card"
    )
    stripe_world.dashboard_payment(
        amount=1500, email="dash@voorbeeld.nl", name="Daan Dash", method="card"
    )

    _deliver_and_apply(stripe_world)
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

    rows = [r for r in csv.DictReader(io.StringIO(out.read_text())) if r["kind"] == "gift"]
    seen = {
        (r["gross"], r["method"], r["frequency"], r["donor_name"], r["donor_email"], r["channel"])
        for r in rows
    }
    assert seen == {
        ("25.00", "ideal", "one-off", "Eva Eigen", "eigen@voorbeeld.nl", "donate_page"),
        ("40.00", "card", "one-off", "Lotte Link", "link@voorbeeld.nl", "payment_link"),
        ("15.00", "card", "one-off", "Daan Dash", "dash@voorbeeld.nl", "dashboard"),
    }
    # The donate page's gift is the campaign's; one from outside names none we could know.
    campaigns = {r["channel"]: r["campaign"] for r in rows}
    assert campaigns == {"donate_page": campaign.slug, "payment_link": "", "dashboard": ""}
    summary = monthly_summary(today.year, today.month)
    gifts = {(line.method, line.channel, line.campaign): line.gifts for line in summary.lines}
    assert gifts[("ideal", "donate_page", campaign.slug)] == 2500
    assert gifts[("card", "payment_link", "")] == 4000
    assert gifts[("card", "dashboard", "")] == 1500
