"""Re-run the localstripe check behind README.md: which of our Stripe calls can it serve?

    python3 -m venv /tmp/localstripe && /tmp/localstripe/bin/pip install localstripe==1.15.10
    .venv/bin/python -m tests.devstripe.localstripe_probe /tmp/localstripe/bin/python

localstripe (GPL-3.0) runs in its own interpreter, as a subprocess, never imported here. Its
own start() binds every interface, so it is started through aiohttp on 127.0.0.1, with its
/tmp/localstripe.pickle dump turned off. Objects are made through localstripe's own API, then
each donations.stripe_api function is called and what came back is printed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import django
from django.conf import settings

RUNNER = """
import sys
from aiohttp import web
from localstripe import resources
from localstripe.server import app
resources.Store.dump_to_disk = lambda self: None
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _try(name: str, call: Callable[[], Any]) -> Any:
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - every failure is the finding
        status = getattr(exc, "http_status", "")
        print(f"FAIL {name}: {type(exc).__name__} {status} {str(exc)[:160]}")
        return None
    print(f"ok   {name}: {str(result)[:160]}")
    return result


def probe(python: str) -> None:
    port = _free_port()
    settings.configure(
        STRIPE_SECRET_KEY="sk_test_probe",
        STRIPE_API_BASE=f"http://127.0.0.1:{port}",
        STRIPE_WEBHOOK_SECRET="whsec_probe",
    )
    django.setup()
    from donations import stripe_api as api

    server = subprocess.Popen([python, "-c", RUNNER, str(port)])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        _run(api)
    finally:
        server.terminate()
        server.wait()


def _run(api: Any) -> None:
    v1 = api.client().v1
    line = {"currency": "eur", "unit_amount": 2500, "product_data": {"name": "Gift"}}
    _try(
        "checkout_session_create",
        lambda: api.checkout_session_create(
            params={"mode": "payment", "line_items": [{"price_data": line, "quantity": 1}]},
            idempotency_key="probe-1",
        ),
    )
    _try("checkout_session_retrieve", lambda: api.checkout_session_retrieve("cs_test_1"))
    first = v1.customers.create({"email": "a@example.org"}, {"idempotency_key": "same"})
    again = v1.customers.create({"email": "a@example.org"}, {"idempotency_key": "same"})
    print(f"{'ok  ' if first.id == again.id else 'FAIL'} idempotency key replays the customer")
    _try("payment_methods.create(ideal)", lambda: v1.payment_methods.create({"type": "ideal"}))
    card = v1.payment_methods.create(
        {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                                  "exp_year": 2030, "cvc": "123"}}
    )  # fmt: skip
    intent = v1.payment_intents.create(
        {"amount": 2500, "currency": "eur", "payment_method": card.id, "confirm": True}
    )
    time.sleep(0.5)
    paid = _try("payment_intent_retrieve", lambda: api.payment_intent_retrieve(intent.id))
    if paid:
        print(f"     (charges list present: {'charges' in paid}, api shape of 2022 and before)")
        charge_id = paid["latest_charge"]["id"]
        v1.refunds.create({"charge": charge_id, "amount": 500})
        _try("charge_retrieve", lambda: api.charge_retrieve(charge_id))
    _try("dispute_retrieve", lambda: api.dispute_retrieve("dp_1"))
    _try("mandate_retrieve", lambda: api.mandate_retrieve("mandate_1"))
    payout = v1.payouts.create({"amount": 1000, "currency": "eur"})
    _try("payout_retrieve", lambda: api.payout_retrieve(payout.id))
    _try(
        "balance_transactions_for_payout",
        lambda: list(api.balance_transactions_for_payout(payout.id)),
    )
    product = v1.products.create({"name": "Monthly gift"})
    _try("prices.create", lambda: v1.prices.create({"currency": "eur", "unit_amount": 1000,
         "recurring": {"interval": "month"}, "product": product.id}))  # fmt: skip
    v1.plans.create({"id": "monthly", "currency": "eur", "amount": 1000, "interval": "month",
                     "product": product.id})  # fmt: skip
    customer = v1.customers.create({"email": "b@example.org"})
    sepa = v1.payment_methods.create({"type": "sepa_debit",
                                      "sepa_debit": {"iban": "NL91ABNA0417164300"}})  # fmt: skip
    v1.payment_methods.attach(sepa.id, {"customer": customer.id})
    v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": sepa.id}})
    sub = v1.subscriptions.create({"customer": customer.id, "items": [{"plan": "monthly"}]})
    time.sleep(1)
    _try("subscription_retrieve", lambda: api.subscription_retrieve(sub.id))
    invoice_id = v1.subscriptions.retrieve(sub.id).latest_invoice
    _try("invoice_retrieve", lambda: api.invoice_retrieve(invoice_id))
    pause = {"pause_collection": {"behavior": "void"}}
    _try(
        "subscription_update(pause_collection)",
        lambda: api.subscription_update(sub.id, params=pause, idempotency_key="p"),
    )
    item = sub["items"].data[0].id
    new_price = {"currency": "eur", "unit_amount": 1500, "product": product.id,
                 "recurring": {"interval": "month"}}  # fmt: skip
    change = {"items": [{"id": item, "price_data": new_price}]}
    updated = _try(
        "subscription_update(price_data)",
        lambda: api.subscription_update(sub.id, params=change, idempotency_key="a"),
    )
    if updated:
        print(f"     (amount after the update: {updated['items']['data'][0]['plan']['amount']})")
    _try("subscription_cancel", lambda: api.subscription_cancel(sub.id, idempotency_key="c"))
    events = _try("events_since(0)", lambda: list(api.events_since(0)))
    if events:
        print(f"     (oldest first: {events[0]['created'] <= events[-1]['created']}, "
              f"api_version {events[0]['api_version']})")  # fmt: skip
    _try("payment_intent_retrieve(missing)", lambda: api.payment_intent_retrieve("pi_missing"))


if __name__ == "__main__":
    probe(sys.argv[1] if len(sys.argv) > 1 else "python3")
