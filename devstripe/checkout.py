"""Checkout Sessions: created by the API, paid on the fake server's own page or by the test."""

from __future__ import annotations

import threading

from devstripe import billing, methods, payments, templates
from devstripe.errors import StripeAPIError, invalid
from devstripe.params import (
    Params,
    as_dict,
    as_int,
    as_list,
    check_known,
    metadata,
    one_of,
    require,
)
from devstripe.state import State
from devstripe.templates import CURRENCY, Obj, new_id, template

CREATE_PARAMS = {
    "adaptive_pricing", "after_expiration", "allow_promotion_codes", "automatic_tax",
    "billing_address_collection", "branding_settings", "cancel_url", "client_reference_id",
    "consent_collection", "currency", "custom_fields", "custom_text", "customer",
    "customer_account", "customer_creation", "customer_email", "customer_update", "discounts",
    "excluded_payment_method_types", "expand", "expires_at", "invoice_creation", "line_items",
    "locale", "metadata", "mode", "name_collection", "optional_items", "origin_context",
    "payment_intent_data", "payment_method_collection", "payment_method_configuration",
    "payment_method_data", "payment_method_options", "payment_method_types", "permissions",
    "phone_number_collection", "redirect_on_completion", "return_url",
    "saved_payment_method_options", "setup_intent_data", "shipping_address_collection",
    "shipping_options", "submit_type", "subscription_data", "success_url", "tax_id_collection",
    "ui_mode", "wallet_options",
}  # fmt: skip
LINE_ITEM_PARAMS = {"adjustable_quantity", "dynamic_tax_rates", "metadata", "price",
                    "price_data", "quantity", "tax_rates"}  # fmt: skip
PRICE_DATA_PARAMS = {"currency", "product", "product_data", "recurring", "tax_behavior",
                     "unit_amount", "unit_amount_decimal"}  # fmt: skip
PAYMENT_INTENT_DATA = {"application_fee_amount", "capture_method", "description", "metadata",
                       "on_behalf_of", "receipt_email", "setup_future_usage", "shipping",
                       "statement_descriptor", "statement_descriptor_suffix", "transfer_data",
                       "transfer_group"}  # fmt: skip
SUBSCRIPTION_DATA = {"application_fee_percent", "billing_cycle_anchor", "billing_mode",
                     "default_tax_rates", "description", "invoice_settings", "metadata",
                     "on_behalf_of", "proration_behavior", "transfer_data", "trial_end",
                     "trial_period_days", "trial_settings"}  # fmt: skip
LOCALES = {"auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi",
           "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb",
           "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh",
           "zh-HK", "zh-TW"}  # fmt: skip
SUBMIT_TYPES = ("auto", "book", "donate", "pay", "subscribe")
DEFAULT_METHODS = ["card", "ideal", "bancontact"]
MINIMUM_AMOUNT = 50


def create(st: State, params: Params) -> Obj:
    check_known(params, CREATE_PARAMS)
    mode = one_of(require(params, "mode"), ("payment", "setup", "subscription"), "mode")
    if mode == "setup":
        raise invalid("fakestripe implements Checkout in payment and subscription mode only.")
    if "locale" in params:
        one_of(params["locale"], sorted(LOCALES), "locale")
    if "submit_type" in params:
        one_of(params["submit_type"], SUBMIT_TYPES, "submit_type")
    if "customer_creation" in params:
        if mode != "payment":
            raise invalid(
                "`customer_creation` can only be used in `payment` mode.", "customer_creation"
            )
        one_of(params["customer_creation"], ("always", "if_required"), "customer_creation")
    types = [
        str(t)
        for t in as_list(
            params.get("payment_method_types", DEFAULT_METHODS), "payment_method_types"
        )
    ]
    for index, kind in enumerate(types):
        one_of(kind, methods.METHODS, f"payment_method_types[{index}]")
    own, foreign = (
        ("payment_intent_data", "subscription_data")
        if mode == "payment"
        else ("subscription_data", "payment_intent_data")
    )
    if foreign in params:
        raise invalid(f"You can not pass `{foreign}` in `{mode}` mode.", param=foreign)
    extra = as_dict(params.get(own, {}), own)
    check_known(extra, PAYMENT_INTENT_DATA if mode == "payment" else SUBSCRIPTION_DATA, own)
    items = [
        _line_item(st, raw, index, mode)
        for index, raw in enumerate(as_list(require(params, "line_items"), "line_items"))
    ]
    recurring = [item for item in items if item["price"]["recurring"]]
    if mode == "payment" and recurring:
        raise invalid(
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only non-recurring prices.",
            param="line_items",
        )
    if mode == "subscription" and not recurring:
        raise invalid(
            "You must provide at least one recurring price in `subscription` mode when using "
            "prices.",
            param="line_items",
        )
    total = sum(item["amount_total"] for item in items)
    if total < MINIMUM_AMOUNT:
        raise invalid(
            "The Checkout Session's total amount due must add up to at least €0.50 eur",
            param="line_items",
        )
    for url_param in ("success_url", "cancel_url"):
        url = params.get(url_param)
        if url is not None and not str(url).startswith(("http://", "https://")):
            raise invalid("Not a valid URL", param=url_param, code="url_invalid")
    now = st.now()
    session = template("checkout.session")
    session_id = "cs_test_" + new_id("", 58)
    session.update(
        id=session_id,
        after_expiration=None,
        amount_subtotal=total,
        amount_total=total,
        automatic_tax={"enabled": False, "liability": None, "status": None, "provider": None},
        billing_address_collection=params.get("billing_address_collection"),
        cancel_url=params.get("cancel_url"),
        client_reference_id=params.get("client_reference_id"),
        consent=None,
        consent_collection=None,
        created=now,
        currency=CURRENCY,
        custom_text={
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        customer=params.get("customer"),
        customer_creation=(
            params.get("customer_creation", "if_required") if mode == "payment" else None
        ),
        customer_details=None,
        customer_email=params.get("customer_email"),
        expires_at=as_int(params.get("expires_at", now + 86_400), "expires_at"),
        invoice_creation=(
            {
                "enabled": False,
                "invoice_data": {
                    "account_tax_ids": None,
                    "custom_fields": None,
                    "description": None,
                    "footer": None,
                    "issuer": None,
                    "metadata": {},
                    "rendering_options": None,
                },
            }
            if mode == "payment"
            else None
        ),
        locale=params.get("locale"),
        metadata=metadata(params.get("metadata", {})),
        mode=mode,
        payment_intent=None,
        payment_method_collection="always" if mode == "subscription" else None,
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=types,
        payment_status="unpaid",
        saved_payment_method_options=None,
        shipping_address_collection=None,
        shipping_cost=None,
        status="open",
        submit_type=params.get("submit_type"),
        success_url=params.get("success_url"),
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        ui_mode=params.get("ui_mode", "hosted"),
        url=f"{st.base_url}/pay/{session_id}",
        adaptive_pricing={"enabled": False},
        discounts=[],
        collected_information=None,
        permissions=None,
        wallet_options=None,
        currency_conversion=None,
        managed_payments={"enabled": False},
    )
    st.store.add(session)
    private = st.store.private[session_id]
    private.update(line_items=items, extra=extra)
    return session


def _line_item(st: State, raw: object, index: int, mode: str) -> Obj:
    prefix = f"line_items[{index}]"
    data = as_dict(raw, prefix)
    check_known(data, LINE_ITEM_PARAMS, prefix)
    quantity = as_int(require(data, "quantity", prefix), f"{prefix}[quantity]")
    if "price" in data:
        price = st.store.get(data["price"], "price", f"{prefix}[price]")
    else:
        price = _price_from_data(st, as_dict(require(data, "price_data", prefix), prefix), prefix)
    product = st.store.get(price["product"], "product", f"{prefix}[price_data][product]")
    item = template("item")
    amount = price["unit_amount"] * quantity
    item.update(
        id=new_id("li_"),
        amount_discount=0,
        amount_subtotal=amount,
        amount_tax=0,
        amount_total=amount,
        currency=price["currency"],
        description=product["name"],
        price=price,
        quantity=quantity,
        metadata=metadata(data.get("metadata", {}), f"{prefix}[metadata]"),
        adjustable_quantity=None,
    )
    return item


def _price_from_data(st: State, data: Params, prefix: str) -> Obj:
    name = f"{prefix}[price_data]"
    check_known(data, PRICE_DATA_PARAMS, name)
    currency = str(require(data, "currency", name)).lower()
    if currency != CURRENCY:
        raise invalid(
            f"fakestripe takes EUR only (iDEAL, Bancontact and SEPA Direct Debit need it), "
            f"not {currency}",
            param=f"{name}[currency]",
        )
    amount = as_int(
        data.get("unit_amount", data.get("unit_amount_decimal"))
        or require(data, "unit_amount", name),
        f"{name}[unit_amount]",
    )
    if "product" in data:
        product_id = data["product"]
        st.store.get(product_id, "product", f"{name}[product]")
    else:
        product_data = as_dict(require(data, "product_data", name), f"{name}[product_data]")
        check_known(
            product_data,
            {"description", "images", "metadata", "name", "tax_code", "unit_label"},
            f"{name}[product_data]",
        )
        product = templates.product(
            str(require(product_data, "name", f"{name}[product_data]")), st.now()
        )
        product["description"] = product_data.get("description")
        product["metadata"] = metadata(product_data.get("metadata", {}))
        product_id = st.store.add(product)["id"]
    interval = None
    if "recurring" in data:
        recurring = as_dict(data["recurring"], f"{name}[recurring]")
        check_known(recurring, {"interval", "interval_count"}, f"{name}[recurring]")
        interval = one_of(
            require(recurring, "interval", f"{name}[recurring]"),
            ("day", "week", "month", "year"),
            f"{name}[recurring][interval]",
        )
    price = templates.price(
        product_id=product_id,
        unit_amount=amount,
        currency=currency,
        interval=interval,
        now=st.now(),
    )
    price["active"] = False  # inline prices are archived at once, like Stripe's
    return st.store.add(price)


def expire(st: State, session_id: str) -> Obj:
    session = st.store.get(session_id, "checkout.session")
    if session["status"] != "open":
        raise StripeAPIError(
            400,
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".',
        )
    session.update(status="expired", url=None)
    st.emit("checkout.session.expired", session)
    return session


def complete(st: State, session_id: str, outcome: str = "paid", method: str | None = None) -> Obj:
    """What a donor paying on Checkout causes; `outcome` paid, processing or failed."""
    session = st.store.get(session_id, "checkout.session")
    if session["status"] != "open":
        raise ValueError(f"{session_id} is {session['status']}, not open")
    method = method or session["payment_method_types"][0]
    if method not in session["payment_method_types"]:
        raise ValueError(f"{method} is not among {session['payment_method_types']}")
    if outcome not in payments.OUTCOMES:
        raise ValueError(f"outcome must be one of {payments.OUTCOMES}, not {outcome!r}")
    settle_now = outcome == "paid" and method in methods.ASYNC_METHODS
    if settle_now:
        outcome = "processing"  # SEPA debits are never paid at once: settle right after
    email, name = donor(st, session)
    pm = methods.payment_method(method, now=st.now(), email=email, name=name)
    st.store.add(pm)
    pi: Obj | None
    if session["mode"] == "payment":
        pi = _pay_once(st, session, pm, outcome)
    else:
        pi = _subscribe(st, session, pm, outcome)
    if pi is not None:
        st.store.private[session["id"]]["payment_intent"] = pi["id"]
        if settle_now:
            settle(st, pi["id"], succeed=True)
    return session


def donor(st: State, session: Obj) -> tuple[str, str]:
    """Who pays on the page: the session's email, else the one a scenario set (doors.py)."""
    given = st.store.private[session["id"]].get("donor") or {}
    email = session["customer_email"] or given.get("email") or "donor@example.org"
    return email, given.get("name") or "Jenny Rosen"


def _customer_details(email: str, name: str) -> Obj:
    return {
        "address": {**templates.empty_address(), "country": "NL"},
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def _pay_once(st: State, session: Obj, pm: Obj, outcome: str) -> Obj:
    extra = st.store.private[session["id"]]["extra"]
    pi = payments.payment_intent(
        st,
        amount=session["amount_total"],
        method=pm["type"],
        payment_method=pm["id"],
        metadata=metadata(extra.get("metadata", {}), "payment_intent_data[metadata]"),
        customer=session["customer"],
        description=extra.get("description"),
        setup_future_usage=extra.get("setup_future_usage"),
    )
    st.store.private[pi["id"]]["session"] = session["id"]
    session["payment_intent"] = pi["id"]
    mandate = None
    if pm["type"] == "sepa_debit":
        mandate = methods.mandate(payment_method_id=pm["id"], now=st.now())
        st.store.add(mandate)
    payments.attempt(st, pi, outcome, mandate=mandate["id"] if mandate else None)
    if outcome != "failed":
        _completed(st, session, paid=outcome == "paid")
    return pi


def _subscribe(st: State, session: Obj, pm: Obj, outcome: str) -> Obj | None:
    if outcome == "failed":
        return None  # the donor stays on Checkout: no customer, no subscription
    extra = st.store.private[session["id"]]["extra"]
    email = pm["billing_details"]["email"]
    customer = (
        st.store.get(session["customer"], "customer", "customer")
        if session["customer"]
        else billing.customer_for(st, email, pm["billing_details"]["name"])
    )
    pm["customer"] = customer["id"]
    items = st.store.private[session["id"]]["line_items"]
    sub = billing.new_subscription(
        st,
        customer=customer["id"],
        prices=[(item["price"], item["quantity"]) for item in items],
        metadata=metadata(extra.get("metadata", {}), "subscription_data[metadata]"),
    )
    sub["description"] = extra.get("description")
    st.emit("customer.subscription.created", sub)
    now = st.now()
    inv = billing.new_invoice(st, sub, reason="subscription_create", period=(now, now))
    sub["latest_invoice"] = inv["id"]
    if pm["type"] == "sepa_debit":  # debited straight away, under a mandate
        st.store.private[pm["id"]]["mandate"] = st.store.add(
            methods.mandate(payment_method_id=pm["id"], now=now)
        )["id"]
    pi = billing.pay_invoice(st, inv, sub, pm, outcome)
    charge = st.store.get(pi["latest_charge"], "charge")
    if pm["type"] in ("ideal", "bancontact"):
        default = billing.sepa_from(st, pm, charge, customer["id"])
    else:
        default = pm
        st.emit("payment_method.attached", pm)
    st.changed(
        "customer.subscription.updated",
        sub,
        status="active",
        default_payment_method=default["id"],
    )
    session.update(subscription=sub["id"], invoice=inv["id"], customer=customer["id"])
    _completed(st, session, paid=outcome == "paid")
    return pi


def _completed(st: State, session: Obj, *, paid: bool) -> None:
    email, name = donor(st, session)
    session.update(
        status="complete",
        payment_status="paid" if paid else "unpaid",
        customer_details=_customer_details(email, name),
        url=None,
    )
    st.emit("checkout.session.completed", session)


def settle(st: State, payment_intent_id: str, succeed: bool = True) -> Obj:
    """A processing payment (SEPA Direct Debit) succeeds or fails, days later."""
    pi = st.store.get(payment_intent_id, "payment_intent")
    if pi["status"] != "processing":
        raise ValueError(f"{payment_intent_id} is {pi['status']}, not processing")
    payments.finish(st, pi, succeed=succeed)
    private = st.store.private[pi["id"]]
    if "invoice" in private:
        billing.invoice_settled(st, st.store.get(private["invoice"], "invoice"), succeed)
    session_id = private.get("session") or _session_for_invoice(st, private.get("invoice"))
    if session_id:
        session = st.store.get(session_id, "checkout.session")
        if succeed:
            session["payment_status"] = "paid"
            st.emit("checkout.session.async_payment_succeeded", session)
        else:
            st.emit("checkout.session.async_payment_failed", session)
    return pi


def _session_for_invoice(st: State, invoice_id: str | None) -> str | None:
    if invoice_id is None:
        return None
    sessions = st.store.of_kind("checkout.session", lambda s: s["invoice"] == invoice_id)
    return sessions[0]["id"] if sessions else None


def settle_later(st: State, session_id: str, *, succeed: bool) -> threading.Timer:
    """`--settle-after`: the session's processing payment succeeds (or fails) by itself after
    st.settle_after seconds, with the events Stripe sends when a debit clears or bounces."""
    payment_intent_id = st.store.private[session_id]["payment_intent"]
    # Remembered, so a devstripe restarted from its state file settles it after all.
    st.store.private[session_id]["settles"] = succeed
    st.touch()

    def clear() -> None:
        with st.lock:
            st.store.private[session_id].pop("settles", None)
            st.touch()
            if st.store.get(payment_intent_id, "payment_intent")["status"] == "processing":
                settle(st, payment_intent_id, succeed=succeed)

    timer = threading.Timer(st.settle_after or 0.0, clear)
    timer.daemon = True
    timer.start()
    return timer
