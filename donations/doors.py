"""Gifts that did not start on our donate page: a Payment Link, a payment or subscription made
in the Stripe dashboard, an invoice, another site on the same Stripe account, a legacy charge
(the Charges API, without a payment intent).

They carry none of our metadata, so their Donation (and RecurringDonation) is built here from
Stripe's own objects: amount, currency, method, the donor's name, email and language, and the
channel they came through. The handlers (donations.handlers) decide when; these functions only
read what Stripe sent and build unsaved-then-created rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from campaign.models import Campaign
from donations import stripe_api
from donations.models import (
    Channel,
    Donation,
    Frequency,
    Method,
    RecurringDonation,
    StripeCampaign,
)

Payload = dict[str, Any]
LANGUAGES = ("nl", "en")
# Our own metadata keys: a payment carrying one of them started on our donate page.
OUR_KEYS = ("donation_uuid", "recurring_uuid")
# The one key staff may set on a Payment Link's or a dashboard payment's metadata: the slug of
# the campaign the gift is for.
CAMPAIGN_KEY = "campaign"


def _id(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value["id"])


def language_guess(*locales: Any) -> str:
    """Dutch unless Stripe knows the donor reads another language (Checkout's locale, the
    customer's preferred_locales): we write in Dutch and English only, so any other language
    gets English."""
    for locale in locales:
        code = str(locale or "").lower()[:2]
        if code and code != "au":  # "auto": Checkout followed the browser, which we never saw
            return code if code in LANGUAGES else "en"
    return "nl"


def channel_of(*, session: Payload | None, metadata: Any, invoice: bool = False) -> Channel:
    """Where a payment came from, as far as Stripe's objects tell."""
    if session is not None:
        return Channel.PAYMENT_LINK if session.get("payment_link") else Channel.OTHER_SITE
    if invoice:
        return Channel.INVOICE
    if any(key in (metadata or {}) for key in OUR_KEYS):
        return Channel.UNKNOWN  # ours, but its donation is not in this database
    # The dashboard sets no metadata (but a campaign staff name); another site sets its own.
    foreign = set(metadata or {}) - {CAMPAIGN_KEY}
    return Channel.OTHER_SITE if foreign else Channel.DASHBOARD


def campaign_of(*metadata: Any, stripe_ids: Iterable[str] = ()) -> Campaign | None:
    """The campaign a metadata `campaign` names, if it is one of ours; else the one finance set
    in the back office (StripeCampaign) for the first of `stripe_ids` that has one."""
    for values in metadata:
        slug = str((values or {}).get(CAMPAIGN_KEY) or "")[:50]  # a slug is at most 50
        named = Campaign.objects.filter(slug=slug).first() if slug else None
        if named is not None:
            return named
    ids = [stripe_id for stripe_id in stripe_ids if stripe_id]
    if not ids:
        return None
    mapped = {
        row.stripe_id: row.campaign
        for row in StripeCampaign.objects.filter(stripe_id__in=ids).select_related("campaign")
    }
    return next((mapped[stripe_id] for stripe_id in ids if stripe_id in mapped), None)


def door_ids(
    *, session: Payload | None = None, subscription: Any = None, invoice: Payload | None = None
) -> list[str]:
    """The Payment Link, prices and products a gift was made through, the most specific first:
    what finance can map to a campaign (StripeCampaign)."""
    links = [_id((session or {}).get("payment_link"))]
    prices: list[str] = []
    products: list[str] = []
    items = ((subscription if isinstance(subscription, dict) else {}).get("items") or {}).get(
        "data"
    ) or []
    for item in items:
        price = item.get("price") or {}
        prices.append(_id(price))
        products.append(_id(price.get("product")) if isinstance(price, dict) else "")
    for line in ((invoice or {}).get("lines") or {}).get("data") or []:
        details = (line.get("pricing") or {}).get("price_details") or {}
        prices.append(_id(details.get("price")))
        products.append(_id(details.get("product")))
    return [stripe_id for stripe_id in (*links, *prices, *products) if stripe_id]


def method_of(*details: Any) -> str:
    """The first payment method type we take among charges' payment_method_details and
    payment methods (both have a `type`)."""
    for detail in details:
        kind = (detail or {}).get("type", "") if isinstance(detail, dict) else ""
        if kind in Method.values:
            return str(kind)
    return Method.UNKNOWN


# Debits whose bank answers days later: the donor gave, and a failure then is news (a declined
# card at another door is only an attempt, made again or given up on the spot).
DELAYED_METHODS = {Method.SEPA_DEBIT}


def delayed_failure(intent: Payload) -> bool:
    """Whether a payment intent failed as a delayed debit (read from its last error or, when
    expanded, its charge)."""
    if intent.get("status") not in {"requires_payment_method", "canceled"}:
        return False
    error_method = (intent.get("last_payment_error") or {}).get("payment_method")
    charge = intent.get("latest_charge")
    return (
        method_of(
            error_method if isinstance(error_method, dict) else None,
            charge.get("payment_method_details") if isinstance(charge, dict) else None,
        )
        in DELAYED_METHODS
    )


def worth_a_donation(intent: Payload) -> bool:
    """A payment from another door gets its donation when it succeeded, is processing (shown
    so until the bank answers) or failed as a delayed debit."""
    return intent.get("status") in {"succeeded", "processing"} or delayed_failure(intent)


def _customer(value: Any) -> Payload:
    """The customer, read from Stripe when only its id is at hand."""
    if isinstance(value, dict):
        return value
    return stripe_api.customer_retrieve(value) if value else {}


def _donor(*sources: Any) -> tuple[str, str]:
    """The first name and the first email among Stripe's donor details."""
    name = next((str(s["name"]) for s in sources if s and s.get("name")), "")
    email = next((str(s["email"]) for s in sources if s and s.get("email")), "")
    return name[:200], email[:254]


def donation_for_payment(
    intent: Payload, *, session: Payload | None, invoice: Payload | None
) -> Donation:
    """A one-off gift for a payment intent we did not start (its ledger row comes after)."""
    charge = intent.get("latest_charge") if isinstance(intent.get("latest_charge"), dict) else {}
    customer = _customer(intent.get("customer") or (session or {}).get("customer"))
    invoice_donor = (
        {"name": invoice.get("customer_name"), "email": invoice.get("customer_email")}
        if invoice
        else None
    )
    name, email = _donor(
        (session or {}).get("customer_details"),
        invoice_donor,
        (charge or {}).get("billing_details"),
        customer,
        {"email": intent.get("receipt_email")},
    )
    payment_method = intent.get("payment_method")
    return Donation.objects.create(
        donor_name=name,
        donor_email=email,
        amount=int(intent.get("amount_received") or intent["amount"]),
        currency=str(intent["currency"]).lower(),
        frequency=Frequency.ONE_OFF,
        method=method_of(
            (charge or {}).get("payment_method_details"),
            payment_method if isinstance(payment_method, dict) else None,
        ),
        language=language_guess(
            (session or {}).get("locale"), *(customer.get("preferred_locales") or [])
        ),
        channel=channel_of(session=session, metadata=intent.get("metadata"), invoice=bool(invoice)),
        campaign=campaign_of(
            intent.get("metadata"),
            (session or {}).get("metadata"),
            (invoice or {}).get("metadata"),
            stripe_ids=door_ids(session=session, invoice=invoice),
        ),
        stripe_checkout_session=str((session or {}).get("id") or ""),
        stripe_payment_intent=intent["id"],
        stripe_invoice=invoice["id"] if invoice else None,
    )


def donation_for_charge(charge: Payload) -> Donation:
    """A one-off gift for a charge made without a payment intent (the legacy Charges API of
    older integrations): the donor from its billing details, receipt email or customer."""
    customer = _customer(charge.get("customer"))
    name, email = _donor(
        charge.get("billing_details"), customer, {"email": charge.get("receipt_email")}
    )
    return Donation.objects.create(
        donor_name=name,
        donor_email=email,
        amount=int(charge["amount"]),
        currency=str(charge["currency"]).lower(),
        frequency=Frequency.ONE_OFF,
        method=method_of(charge.get("payment_method_details")),
        language=language_guess(*(customer.get("preferred_locales") or [])),
        channel=channel_of(session=None, metadata=charge.get("metadata")),
        campaign=campaign_of(charge.get("metadata")),
    )


def subscription_amount(subscription: Payload) -> int | None:
    """The monthly amount in cents; a price's unit_amount_decimal is a string (and the only
    amount of a price with fractions of a cent), rounded here."""
    total = Decimal(0)
    items = (subscription.get("items") or {}).get("data") or []
    for item in items:
        price = item.get("price") or {}
        raw = price.get("unit_amount")
        if raw is None:
            raw = price.get("unit_amount_decimal")
        try:
            total += Decimal(str(raw)) * int(item.get("quantity") or 1)
        except (InvalidOperation, TypeError, ValueError):
            return None
    return int(total.to_integral_value()) if items else None


def recurring_for_subscription(
    subscription: Payload, *, session: Payload | None
) -> RecurringDonation:
    """The monthly gift of a subscription we did not start, with its Stripe ids."""
    customer = _customer(subscription.get("customer"))
    name, email = _donor((session or {}).get("customer_details"), customer)
    recurring, _ = RecurringDonation.objects.get_or_create(
        stripe_subscription=subscription["id"],
        defaults={
            "donor_name": name,
            "donor_email": email,
            "amount": subscription_amount(subscription) or 0,
            "currency": str(subscription.get("currency") or "eur").lower(),
            "language": language_guess(
                (session or {}).get("locale"), *(customer.get("preferred_locales") or [])
            ),
            "channel": channel_of(session=session, metadata=subscription.get("metadata")),
            "campaign": campaign_of(
                subscription.get("metadata"),
                (session or {}).get("metadata"),
                stripe_ids=door_ids(session=session, subscription=subscription),
            ),
            "stripe_customer": _id(subscription.get("customer")),
        },
    )
    return recurring
