"""Objects start as Stripe's own example of their type (fixtures3.json, MIT, see fixtures3.LICENSE).

Each builder copies the example, clears the example's placeholder values and sets EUR: the field
set stays exactly the fixture's, which is the shape of API version 2026-10-28.endive.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).with_name("fixtures3.json")
API_VERSION = "2026-10-28.endive"
CURRENCY = "eur"
# Fields the fixture still carries that stripe-python 16 (built from the same spec) no longer
# declares: real Stripe stopped sending them (invoice.subscription moved to invoice.parent).
_STALE_FIELDS = {"invoice": ("subscription",)}
_ALPHABET = string.ascii_letters + string.digits

Obj = dict[str, Any]


@cache
def _resources() -> dict[str, Obj]:
    resources: dict[str, Obj] = json.loads(FIXTURES.read_text())["resources"]
    return resources


def template(kind: str) -> Obj:
    obj = copy.deepcopy(_resources()[kind])
    for field in _STALE_FIELDS.get(kind, ()):
        obj.pop(field, None)
    return obj


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def random_upper(length: int) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def empty_address() -> Obj:
    return {k: None for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def product(name: str, now: int) -> Obj:
    obj = template("product")
    obj.update(
        id=new_id("prod_", 14),
        created=now,
        updated=now,
        name=name,
        description=None,
        default_price=None,
        package_dimensions=None,
        type="service",
        shippable=None,
    )
    return obj


def price(
    *, product_id: str, unit_amount: int, currency: str, interval: str | None, now: int
) -> Obj:
    obj = template("price")
    obj.update(
        id=new_id("price_"),
        created=now,
        product=product_id,
        currency=currency,
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
        transform_quantity=None,
        type="recurring" if interval else "one_time",
        recurring=(
            {
                "interval": interval,
                "interval_count": 1,
                "meter": None,
                "trial_period_days": None,
                "usage_type": "licensed",
            }
            if interval
            else None
        ),
    )
    return obj


def customer(*, email: str | None, name: str | None, now: int) -> Obj:
    obj = template("customer")
    obj.update(
        id=new_id("cus_", 14),
        created=now,
        email=email,
        name=name,
        currency=CURRENCY,
        address=None,
        discount=None,
        shipping=None,
        invoice_prefix=random_upper(8),
        preferred_locales=[],
    )
    return obj


def event(*, type: str, obj: Obj, previous: Obj | None, request: Obj, now: int) -> Obj:
    evt = template("event")
    data: Obj = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    evt.update(
        id=new_id("evt_"),
        api_version=API_VERSION,
        created=now,
        data=data,
        type=type,
        pending_webhooks=0,
        request=request,
    )
    return evt


def balance_transaction(
    *,
    amount: int,
    fee: int,
    source: str,
    type: str,
    category: str,
    description: str | None,
    available_on: int,
    now: int,
    fee_description: str = "Stripe processing fees",
) -> Obj:
    obj = template("balance_transaction")
    obj.update(
        id=new_id("txn_"),
        amount=amount,
        fee=fee,
        net=amount - fee,
        source=source,
        type=type,
        reporting_category=category,
        description=description,
        created=now,
        available_on=available_on,
        currency=CURRENCY,
        status="pending",
        fee_details=(
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": CURRENCY,
                    "description": fee_description,
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        ),
    )
    return obj
