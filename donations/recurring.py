"""A donor manages a monthly gift from a signed, expiring link: amount, pause, resume, cancel.

Every change goes to Stripe first (keyed so a retried click changes nothing twice), then to our
row; the webhook that follows finds our row already up to date.
"""

from __future__ import annotations

import uuid as uuid_lib

from django.conf import settings
from django.core import signing
from django.db import transaction

from campaign.tokens import LinkTimestampSigner, link_signer
from donations import stripe_api
from donations.models import RecurringDonation, RecurringState

_SALT = "donations.recurring.manage"


class LinkInvalid(Exception):
    """The link was tampered with, has expired, or its gift no longer exists."""


class LinkExpired(LinkInvalid):
    """The signature is genuine but older than RECURRING_LINK_MAX_AGE_DAYS."""


class LinkUnknown(LinkInvalid):
    """The signature is genuine but its gift no longer exists."""


class ChangeRefused(Exception):
    """The change does not apply to the gift's current state (e.g. resuming a cancelled gift)."""


def manage_token(recurring: RecurringDonation) -> str:
    # The plain uuid, hex-signed: no base64 words for spam filters to misread (LinkSigner).
    return LinkTimestampSigner(salt=_SALT).sign(str(recurring.uuid))


def manage_url(recurring: RecurringDonation) -> str:
    from django.urls import reverse

    return settings.SITE_URL + reverse(
        "donations:manage", kwargs={"token": manage_token(recurring)}
    )


def recurring_from_token(token: str) -> RecurringDonation:
    max_age = settings.RECURRING_LINK_MAX_AGE_DAYS * 86400
    try:
        if isinstance(link_signer(token, salt=_SALT, timestamped=True), LinkTimestampSigner):
            value = LinkTimestampSigner(salt=_SALT).unsign(token, max_age=max_age)
        else:  # links in emails sent before hex signatures: signing.dumps of the uuid
            value = signing.loads(token, salt=_SALT, max_age=max_age)
        recurring_uuid = uuid_lib.UUID(str(value))
    except signing.SignatureExpired as exc:
        raise LinkExpired(str(exc)) from exc
    except (signing.BadSignature, ValueError) as exc:
        raise LinkInvalid(str(exc)) from exc
    recurring = RecurringDonation.objects.filter(uuid=recurring_uuid).first()
    if recurring is None:
        raise LinkUnknown("unknown gift")
    return recurring


def _subscription(recurring: RecurringDonation) -> str:
    if not recurring.stripe_subscription:
        raise ChangeRefused("the monthly gift has not started yet")
    return recurring.stripe_subscription


def _locked(recurring: RecurringDonation) -> RecurringDonation:
    return RecurringDonation.objects.select_for_update().get(pk=recurring.pk)


@transaction.atomic
def recurring_change_amount(*, recurring: RecurringDonation, amount: int) -> RecurringDonation:
    if not settings.DONATION_MIN_CENTS <= amount <= settings.DONATION_MAX_CENTS:
        raise ChangeRefused("amount out of range")
    recurring = _locked(recurring)
    if recurring.state in {RecurringState.CANCELLED, RecurringState.LAPSED}:
        raise ChangeRefused("the monthly gift has ended")
    if amount == recurring.amount:
        return recurring
    subscription = stripe_api.subscription_retrieve(_subscription(recurring))
    item = subscription["items"]["data"][0]
    stripe_api.subscription_update(
        subscription["id"],
        params={
            "items": [
                {
                    "id": item["id"],
                    "price_data": {
                        "currency": recurring.currency,
                        "product": item["price"]["product"],
                        "unit_amount": amount,
                        "recurring": {"interval": "month"},
                    },
                    "quantity": 1,
                }
            ],
            "proration_behavior": "none",
        },
        idempotency_key=f"recurring-{recurring.uuid}-amount-{amount}-{recurring.updated_at:%s}",
    )
    recurring.amount = amount
    recurring.save(update_fields=["amount", "updated_at"])
    return recurring


@transaction.atomic
def recurring_pause(*, recurring: RecurringDonation) -> RecurringDonation:
    recurring = _locked(recurring)
    if recurring.state == RecurringState.PAUSED:
        return recurring
    if recurring.state not in {RecurringState.ACTIVE, RecurringState.PAST_DUE}:
        raise ChangeRefused("only a running monthly gift can be paused")
    stripe_api.subscription_update(
        _subscription(recurring),
        params={"pause_collection": {"behavior": "void"}},
        idempotency_key=f"recurring-{recurring.uuid}-pause-{recurring.updated_at:%s}",
    )
    recurring.state = RecurringState.PAUSED
    recurring.save(update_fields=["state", "updated_at"])
    return recurring


@transaction.atomic
def recurring_resume(*, recurring: RecurringDonation) -> RecurringDonation:
    recurring = _locked(recurring)
    if recurring.state == RecurringState.ACTIVE:
        return recurring
    if recurring.state != RecurringState.PAUSED:
        raise ChangeRefused("only a paused monthly gift can be resumed")
    stripe_api.subscription_update(
        _subscription(recurring),
        params={"pause_collection": ""},  # an empty value clears the pause at Stripe
        idempotency_key=f"recurring-{recurring.uuid}-resume-{recurring.updated_at:%s}",
    )
    recurring.state = RecurringState.ACTIVE
    recurring.save(update_fields=["state", "updated_at"])
    return recurring


@transaction.atomic
def recurring_cancel(*, recurring: RecurringDonation) -> RecurringDonation:
    recurring = _locked(recurring)
    if recurring.state in {RecurringState.CANCELLED, RecurringState.LAPSED}:
        return recurring
    if recurring.stripe_subscription:
        stripe_api.subscription_cancel(
            recurring.stripe_subscription, idempotency_key=f"recurring-{recurring.uuid}-cancel"
        )
    recurring.state = RecurringState.CANCELLED
    recurring.save(update_fields=["state", "updated_at"])
    return recurring
