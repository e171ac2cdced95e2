"""Starting a gift: our Donation row first, then a Stripe Checkout Session keyed by its uuid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from campaign.selectors import campaign_current
from donations import stripe_api
from donations.fees import fee_cover_extra
from donations.models import Donation, Frequency, Method, RecurringDonation

ONE_OFF_METHODS = (Method.IDEAL, Method.CARD, Method.BANCONTACT)
# Monthly: the first payment by iDEAL or card, whose payment Checkout turns into a SEPA Direct
# Debit mandate for the following months, or by SEPA Direct Debit straight away (processing
# for a few days, like every debit after it).
MONTHLY_METHODS = (Method.IDEAL, Method.CARD, Method.SEPA_DEBIT)


@dataclass(frozen=True)
class GiftRequest:
    amount: int  # cents, before fee cover
    frequency: Frequency
    method: Method
    cover_fee: bool = False
    name: str = ""
    email: str = ""
    news_opt_in: bool = False
    language: str = "nl"
    source_token: str = ""
    utm: dict[str, str] = field(default_factory=dict)


def gift_fee_method(request: GiftRequest) -> str:
    """Monthly gifts are mostly paid by SEPA debit, so their fee cover uses SEPA's fee."""
    return Method.SEPA_DEBIT if request.frequency == Frequency.MONTHLY else request.method


def donation_create(
    *,
    request: GiftRequest,
    supporter_id: int | None = None,
    request_token: str | None = None,
    client_ip: str | None = None,
) -> Donation:
    """Record the gift as pending (and its monthly gift, if any) before anything leaves.

    `request_token` is unique: run this in a transaction, so a second submit of the same form
    that loses the race rolls back its monthly gift too (donations.views finds the winner).
    """
    extra = fee_cover_extra(request.amount, gift_fee_method(request)) if request.cover_fee else 0
    campaign = campaign_current()  # the campaign the donate page is for
    recurring = None
    if request.frequency == Frequency.MONTHLY:
        recurring = RecurringDonation.objects.create(
            supporter_id=supporter_id,
            donor_name=request.name,
            donor_email=request.email,
            amount=request.amount + extra,
            currency=settings.DONATION_CURRENCY,
            language=request.language,
            campaign=campaign,
        )
    return Donation.objects.create(
        supporter_id=supporter_id,
        recurring=recurring,
        donor_name=request.name,
        donor_email=request.email,
        amount=request.amount + extra,
        fee_cover=extra,
        currency=settings.DONATION_CURRENCY,
        frequency=request.frequency,
        method=request.method,
        language=request.language,
        news_opt_in=request.news_opt_in,
        campaign=campaign,
        source_token=request.source_token,
        utm=request.utm,
        request_token=request_token,
        client_ip=client_ip,
    )


def checkout_params(donation: Donation) -> dict[str, Any]:
    """The Checkout Session for a donation: hosted by Stripe, no card data touches us."""
    site = settings.SITE_URL
    thanks = reverse("donations:thanks", kwargs={"donation_uuid": donation.uuid})
    cancel = reverse("donations:donate")
    monthly = donation.frequency == Frequency.MONTHLY
    price_data: dict[str, Any] = {
        "currency": donation.currency,
        "unit_amount": donation.amount,
        "product_data": {
            "name": _("Monthly gift to Save the Children")
            if monthly
            else _("Gift to Save the Children")
        },
    }
    if monthly:
        price_data["recurring"] = {"interval": "month"}
    metadata = {"donation_uuid": str(donation.uuid)}
    params: dict[str, Any] = {
        "mode": "subscription" if monthly else "payment",
        "line_items": [{"price_data": price_data, "quantity": 1}],
        "payment_method_types": [donation.method],
        "client_reference_id": str(donation.uuid),
        "metadata": metadata,
        "locale": donation.language,
        "success_url": f"{site}{thanks}?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{site}{cancel}?cancelled={donation.uuid}",
        "submit_type": None if monthly else "donate",
    }
    if monthly:
        assert donation.recurring is not None
        params["subscription_data"] = {
            "metadata": {**metadata, "recurring_uuid": str(donation.recurring.uuid)},
            "description": _("Monthly gift to Save the Children"),
        }
    else:
        params["payment_intent_data"] = {"metadata": metadata}
    if donation.donor_email:
        params["customer_email"] = donation.donor_email
    elif not monthly:
        params["customer_creation"] = "if_required"
    return {key: value for key, value in params.items() if value is not None}


def checkout_start(*, donation: Donation) -> str:
    """Create (or, on a retried request, replay) the Checkout Session; returns its URL.

    The idempotency key is the donation's uuid: a double click or a retried task gets the
    same session back from Stripe instead of a second one.
    """
    session = stripe_api.checkout_session_create(
        params=checkout_params(donation), idempotency_key=f"donation-{donation.uuid}"
    )
    with transaction.atomic():
        Donation.objects.filter(pk=donation.pk).update(stripe_checkout_session=session["id"])
    # No URL: the replayed session is no longer open (expired, or already paid).
    return str(session.get("url") or "")
