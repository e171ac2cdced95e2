"""Payments that do not start on our donate page: a Payment Link shared on social media, a
payment or a subscription made in the Stripe dashboard, a one-off invoice, another site's
checkout on the same account. None carries our metadata; each emits the events Stripe emits.
"""

from __future__ import annotations

from devstripe import billing, checkout, methods, payments, templates
from devstripe.state import State
from devstripe.templates import CURRENCY, Obj, new_id, template


def _customer(st: State, email: str, name: str, locale: str | None) -> Obj:
    customer = billing.customer_for(st, email, name)
    customer["preferred_locales"] = [locale] if locale else []
    return customer


def _price(st: State, amount: int, *, monthly: bool, name: str) -> Obj:
    product = st.store.add(templates.product(name, st.now()))
    return st.store.add(
        templates.price(
            product_id=product["id"],
            unit_amount=amount,
            currency=CURRENCY,
            interval="month" if monthly else None,
            now=st.now(),
        )
    )


def _link(st: State, price: Obj, *, monthly: bool, link_id: str | None = None) -> Obj:
    """A Payment Link as the dashboard makes one: no metadata, nothing of ours."""
    link = template("payment_link")
    link_id = link_id or new_id("plink_")
    link.update(
        id=link_id,
        currency=CURRENCY,
        metadata={},
        application=None,
        automatic_tax={"enabled": False, "liability": None},
        consent_collection=None,
        custom_text={
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        invoice_creation=None if monthly else {"enabled": False, "invoice_data": None},
        payment_intent_data=None,
        payment_method_types=None,
        payment_method_options=None,
        restrictions=None,
        shipping_address_collection=None,
        subscription_data=(
            {
                "description": None,
                "invoice_settings": {"issuer": {"type": "account"}},
                "metadata": {},
                "trial_period_days": None,
                "trial_settings": None,
            }
            if monthly
            else None
        ),
        submit_type="auto" if monthly else "donate",
        transfer_data=None,
        managed_payments={"enabled": False},
        url=f"{st.base_url}/links/{link_id}",
    )
    st.store.add(link)
    st.store.private[link_id]["price"] = price["id"]
    return link


def payment_link_pay(
    st: State,
    *,
    amount: int,
    email: str,
    name: str,
    method: str = "card",
    monthly: bool = False,
    locale: str = "auto",
    outcome: str = "paid",
    link_id: str | None = None,
) -> Obj:
    """A donor pays through a Payment Link: its Checkout Session (`payment_link` set, no
    metadata, no client_reference_id), paid like any session (SEPA settles right after);
    `outcome` as complete_checkout's ("processing": a SEPA debit waits for `settle`).
    `link_id` names the link (one finance already mapped to a campaign), else a new id."""
    price = _price(st, amount, monthly=monthly, name="Donatie")
    link = _link(st, price, monthly=monthly, link_id=link_id)
    session = checkout.create(
        st,
        {
            "mode": "subscription" if monthly else "payment",
            "line_items": [{"price": price["id"], "quantity": "1"}],
            "payment_method_types": [method],
            "locale": locale,
            **({} if monthly else {"submit_type": "donate"}),
        },
    )
    session.update(payment_link=link["id"], success_url=None, cancel_url=None)
    st.store.private[session["id"]]["donor"] = {"email": email, "name": name}
    return checkout.complete(st, session["id"], outcome, method)


def dashboard_payment(
    st: State,
    *,
    amount: int,
    email: str,
    name: str,
    method: str = "card",
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    settle: bool = True,
) -> Obj:
    """A payment staff (or another site, with `metadata` of its own) made through the API or
    the dashboard: a PaymentIntent with the donor in `billing_details`, no customer, no session.
    A SEPA debit is processing first and settled right after, or (`settle=False`) when the
    test calls `settle`."""
    pm = st.store.add(methods.payment_method(method, now=st.now(), email=email, name=name))
    pi = payments.payment_intent(
        st,
        amount=amount,
        method=method,
        payment_method=pm["id"],
        metadata=dict(metadata or {}),
        customer=None,
        description=description,
    )
    pi["receipt_email"] = email
    mandate = None
    if method == "sepa_debit":
        mandate = st.store.add(methods.mandate(payment_method_id=pm["id"], now=st.now()))["id"]
    asynchronous = method in methods.ASYNC_METHODS
    payments.attempt(st, pi, "processing" if asynchronous else "paid", mandate=mandate)
    if asynchronous and settle:
        checkout.settle(st, pi["id"], succeed=True)
    return pi


def invoice_pay(
    st: State,
    *,
    amount: int,
    email: str,
    name: str,
    method: str = "card",
    locale: str | None = None,
) -> Obj:
    """A one-off invoice sent from the dashboard and paid: no subscription behind it."""
    customer = _customer(st, email, name, locale)
    price = _price(st, amount, monthly=False, name="Gift")
    now = st.now()
    # The invoice builder reads its lines from subscription-like items; a one-off invoice's
    # single line is then made an invoice item's line, with no subscription parent.
    lines_of = {
        "id": None,
        "customer": customer["id"],
        "metadata": {},
        "items": {
            "data": [
                {
                    "id": None,
                    "price": price,
                    "quantity": 1,
                    "current_period_start": now,
                    "current_period_end": now,
                }
            ]
        },
    }
    inv = billing.build_invoice(st, lines_of, reason="manual", period=(now, now))
    inv.update(parent=None, collection_method="charge_automatically", description="Donatie")
    for line in inv["lines"]["data"]:
        line.update(
            subscription=None,
            description="Donatie",
            period={"start": now, "end": now},
            parent={
                "invoice_item_details": {
                    "invoice_item": new_id("ii_"),
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": None,
                },
                "subscription_item_details": None,
                "type": "invoice_item_details",
            },
        )
    st.store.add(inv)
    st.emit("invoice.created", inv)
    billing.finalize(st, inv)
    pm = st.store.add(methods.payment_method(method, now=now, email=email, name=name))
    pm["customer"] = customer["id"]
    pi = billing.start_payment(
        st, inv, {"customer": customer["id"]}, pm, f"Invoice {inv['number']}"
    )
    pi["setup_future_usage"] = None
    payments.attempt(st, pi, "paid")
    billing.invoice_mark_paid(st, inv)
    return inv


def dashboard_subscription(
    st: State,
    *,
    amount: int,
    email: str,
    name: str,
    method: str = "sepa_debit",
    locale: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Obj:
    """A monthly gift set up in the dashboard: a customer, a subscription without our metadata
    (its price's unit_amount_decimal a string, as Stripe sends it), a default payment method
    (a SEPA one under a mandate, or a card) and the first invoice paid. `renew` goes on."""
    customer = _customer(st, email, name, locale)
    price = _price(st, amount, monthly=True, name="Maandelijkse donatie")
    pm = st.store.add(methods.payment_method(method, now=st.now(), email=email, name=name))
    pm["customer"] = customer["id"]
    if method == "sepa_debit":
        mandate = methods.mandate(payment_method_id=pm["id"], now=st.now())
        st.store.private[pm["id"]]["mandate"] = st.store.add(mandate)["id"]
    st.emit("payment_method.attached", pm)
    sub = billing.new_subscription(
        st, customer=customer["id"], prices=[(price, 1)], metadata=dict(metadata or {})
    )
    sub["default_payment_method"] = pm["id"]
    st.emit("customer.subscription.created", sub)
    now = st.now()
    inv = billing.new_invoice(st, sub, reason="subscription_create", period=(now, now))
    sub["latest_invoice"] = inv["id"]
    outcome = "processing" if method in methods.ASYNC_METHODS else "paid"
    pi = billing.pay_invoice(st, inv, sub, pm, outcome)
    if outcome == "processing":
        payments.finish(st, pi, succeed=True)
        billing.invoice_settled(st, inv, True)
    st.changed("customer.subscription.updated", sub, status="active")
    return sub
