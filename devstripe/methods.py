"""The four ways to pay we take (card, iDEAL, Bancontact, SEPA Direct Debit): fees, payment
methods, charge details and the SEPA mandate that iDEAL and Bancontact generate for a subscription.
"""

from __future__ import annotations

import hashlib
from typing import Any

from devstripe.templates import Obj, new_id, random_upper, template

METHODS = ("card", "ideal", "bancontact", "sepa_debit")
DAY = 86_400
# (percent in basis points, fixed cents): a simple table, not Stripe's real pricing.
FEES: dict[str, tuple[int, int]] = {
    "card": (150, 25),
    "ideal": (0, 29),
    "bancontact": (140, 25),
    "sepa_debit": (0, 35),
}
# Days until a payment's funds are available (rounded down to midnight UTC).
AVAILABLE_AFTER_DAYS = {"card": 2, "ideal": 2, "bancontact": 2, "sepa_debit": 7}
ASYNC_METHODS = {"sepa_debit"}  # "processing" first, settled days later
DISPUTE_FEE = 1500
IBAN_LAST4 = "4300"  # NL91ABNA0417164300, Stripe's Dutch test IBAN
DECLINES = {
    "card": ("card_declined", "Your card was declined."),
    "ideal": ("payment_method_customer_decline", "The customer declined the payment."),
    "bancontact": ("payment_method_customer_decline", "The customer declined the payment."),
    "sepa_debit": (
        "insufficient_funds",
        "The customer's account has insufficient funds to cover this payment.",
    ),
}


def fee(method: str, amount: int) -> int:
    basis_points, fixed = FEES[method]
    return (amount * basis_points + 5_000) // 10_000 + fixed


def available_on(method: str, now: int) -> int:
    return (now // DAY + AVAILABLE_AFTER_DAYS[method]) * DAY


def charge_prefix(method: str) -> str:
    # Card charges are ch_; other payment methods' charges are "payments", py_.
    return "ch_" if method == "card" else "py_"


def balance_type(method: str) -> str:
    return "charge" if method == "card" else "payment"


def _fingerprint(seed: str) -> str:
    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()[:16]


def payment_method(
    method: str, *, now: int, email: str | None, name: str | None, generated_from: str | None = None
) -> Obj:
    """A PaymentMethod; `generated_from` (a charge id) makes the SEPA one iDEAL/Bancontact leave."""
    obj = template("payment_method")
    details: Any
    if method == "card":
        details = obj["card"]
        details.update(country="NL", generated_from=None, wallet=None, display_brand="visa")
    elif method == "ideal":
        details = {"bank": "ing", "bic": "INGBNL2A"}
    elif method == "bancontact":
        details = {}
    else:
        details = {
            "bank_code": "ABNA",
            "branch_code": "",
            "country": "NL",
            "fingerprint": _fingerprint("NL91ABNA0417164300"),
            "generated_from": {"charge": generated_from, "setup_attempt": None},
            "last4": IBAN_LAST4,
        }
    obj.pop("card")
    obj.update(
        {
            "id": new_id("pm_"),
            "created": now,
            "type": method,
            method: details,
            "metadata": {},
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {
                    **obj["billing_details"]["address"],
                    "country": "NL",
                    "state": None,
                    "city": "Amsterdam",
                    "line1": "Damrak 1",
                    "postal_code": "1012 LG",
                },
                "email": email,
                "name": name or "Jenny Rosen",
                "phone": None,
                "tax_id": None,
            },
        }
    )
    return obj


def charge_details(method: str, *, mandate: str | None = None, amount: int = 0) -> Obj:
    """charge.payment_method_details for a payment with this method."""
    if method == "card":
        card = template("charge")["payment_method_details"]["card"]
        card.update(country="NL", wallet=None, amount_authorized=amount, installments=None)
        card["overcapture"]["maximum_amount_capturable"] = amount
        return {"card": card, "type": "card"}
    if method == "ideal":
        details: Obj = {
            "bank": "ing",
            "bic": "INGBNL2A",
            "generated_sepa_debit": None,
            "generated_sepa_debit_mandate": None,
            "iban_last4": IBAN_LAST4,
            "transaction_id": random_upper(16),
            "verified_name": "Jenny Rosen",
        }
    elif method == "bancontact":
        details = {
            "bank_code": "VAPE",
            "bank_name": "VAN DE PUT & CO",
            "bic": "VAPEBE22",
            "generated_sepa_debit": None,
            "generated_sepa_debit_mandate": None,
            "iban_last4": "7061",
            "preferred_language": "nl",
            "verified_name": "Jenny Rosen",
        }
    else:
        details = {
            "bank_code": "ABNA",
            "branch_code": "",
            "country": "NL",
            "expected_debit_date": None,
            "fingerprint": _fingerprint("NL91ABNA0417164300"),
            "last4": IBAN_LAST4,
            "mandate": mandate,
        }
    return {method: details, "type": method}


def mandate(*, payment_method_id: str, now: int) -> Obj:
    obj = template("mandate")
    obj.update(
        id=new_id("mandate_"),
        payment_method=payment_method_id,
        payment_method_details={
            "sepa_debit": {"reference": random_upper(16), "url": ""},
            "type": "sepa_debit",
        },
        customer_acceptance={
            "accepted_at": now,
            "online": {"ip_address": "127.0.0.1", "user_agent": "Mozilla/5.0 (fakestripe)"},
            "type": "online",
        },
        status="active",
        type="multi_use",
        multi_use={},
    )
    return obj


def refund_destination(method: str) -> Obj:
    if method == "card":
        card = {
            "reference": None,
            "reference_status": "pending",
            "type": "refund",
            "reference_type": "acquirer_reference_number",
        }
        return {"card": card, "type": "card"}
    return {"type": method}


def dispute_details(method: str) -> Obj:
    if method == "card":
        return {
            "card": {"brand": "visa", "case_type": "chargeback", "network_reason_code": "10.4"},
            "type": "card",
        }
    return {"type": method}
