"""Monthly gifts: customers, prices, subscriptions, invoices and their payments, SEPA mandates."""

from __future__ import annotations

import calendar
import copy
from datetime import UTC, datetime

from devstripe import methods, payments, templates
from devstripe.state import State
from devstripe.templates import CURRENCY, Obj, new_id, template

LIVE_STATUSES = ("active", "past_due", "incomplete")


def add_month(timestamp: int) -> int:
    moment = datetime.fromtimestamp(timestamp, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def plan_from_price(price: Obj) -> Obj:
    interval = (price["recurring"] or {}).get("interval", "month")
    return {
        "active": True, "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit",
        "created": price["created"], "currency": price["currency"], "id": price["id"],
        "interval": interval, "interval_count": 1, "livemode": False, "metadata": {},
        "meter": None, "nickname": None, "object": "plan", "product": price["product"],
        "tiers_mode": None, "transform_usage": None, "trial_period_days": None,
        "usage_type": "licensed",
    }  # fmt: skip


def subscription_item(st: State, sub_id: str, price: Obj, quantity: int, start: int) -> Obj:
    item = template("subscription_item")
    item.update(
        id=new_id("si_", 14),
        created=st.now(),
        discounts=[],
        metadata={},
        price=copy.deepcopy(price),
        plan=plan_from_price(price),
        quantity=quantity,
        subscription=sub_id,
        tax_rates=[],
        current_period_start=start,
        current_period_end=add_month(start),
        billing_thresholds=None,
    )
    return item


def new_subscription(
    st: State, *, customer: str, prices: list[tuple[Obj, int]], metadata: dict[str, str]
) -> Obj:
    sub = template("subscription")
    sub_id = new_id("sub_")
    now = st.now()
    items = [subscription_item(st, sub_id, price, qty, now) for price, qty in prices]
    sub.update(
        id=sub_id,
        automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
        billing_cycle_anchor=now,
        billing_cycle_anchor_config=None,
        cancel_at=None,
        canceled_at=None,
        cancellation_details={"comment": None, "feedback": None, "reason": None},
        created=now,
        currency=CURRENCY,
        customer=customer,
        default_payment_method=None,
        ended_at=None,
        items={
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        latest_invoice=None,
        metadata=dict(metadata),
        next_pending_invoice_item_invoice=None,
        pause_collection=None,
        payment_settings={
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        pending_invoice_item_interval=None,
        pending_update=None,
        start_date=now,
        status="incomplete",
        transfer_data=None,
        trial_end=None,
        trial_start=None,
        cancel_at_period_end=False,
        billing_thresholds=None,
        billing_mode={"type": "classic", "flexible": None},
        managed_payments={"enabled": False},
        billing_schedules=[],
    )
    st.store.add(sub)
    return sub


def subscription_amount(sub: Obj) -> int:
    return sum(item["price"]["unit_amount"] * item["quantity"] for item in sub["items"]["data"])


def new_invoice(st: State, sub: Obj, *, reason: str, period: tuple[int, int]) -> Obj:
    """A draft invoice for the subscription's items (invoice.created)."""
    inv = build_invoice(st, sub, reason=reason, period=period)
    st.store.add(inv)
    st.emit("invoice.created", inv)
    return inv


def build_invoice(st: State, sub: Obj, *, reason: str, period: tuple[int, int]) -> Obj:
    inv = template("invoice")
    inv_id = new_id("in_")
    customer = st.store.get(sub["customer"], "customer")
    amount = subscription_amount(sub)
    lines = [_line(st, inv_id, sub, item) for item in sub["items"]["data"]]
    inv.update(
        id=inv_id,
        account_country="NL",
        account_name="Save the Children Nederland",
        amount_due=amount,
        amount_paid=0,
        amount_remaining=amount,
        amount_overpaid=0,
        attempt_count=0,
        attempted=False,
        auto_advance=True,
        automatic_tax={
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        billing_reason=reason,
        created=st.now(),
        currency=CURRENCY,
        customer=customer["id"],
        customer_address=None,
        customer_email=customer["email"],
        customer_name=customer["name"],
        customer_shipping=None,
        due_date=None,
        effective_at=None,
        ending_balance=None,
        from_invoice=None,
        hosted_invoice_url=None,
        invoice_pdf=None,
        last_finalization_error=None,
        lines={
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/invoices/{inv_id}/lines",
        },
        metadata={},
        next_payment_attempt=None,
        number=None,
        parent={
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        },
        payment_settings={
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        period_start=period[0],
        period_end=period[1],
        rendering=None,
        shipping_cost=None,
        shipping_details=None,
        status="draft",
        status_transitions={
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        subtotal=amount,
        subtotal_excluding_tax=amount,
        total=amount,
        total_excluding_tax=amount,
        total_pretax_credit_amounts=[],
        total_taxes=[],
        webhooks_delivered_at=None,
    )
    return inv


def _line(st: State, inv_id: str, sub: Obj, item: Obj) -> Obj:
    line = template("line_item")
    price = item["price"]
    amount = price["unit_amount"] * item["quantity"]
    product = st.store.find(price["product"]) or {"name": "Gift"}
    line.update(
        id=new_id("il_"),
        amount=amount,
        currency=CURRENCY,
        description=f"{item['quantity']} x {product['name']} "
        f"(at €{price['unit_amount'] / 100:.2f} / month)",
        invoice=inv_id,
        metadata={},
        parent={
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        period={"start": item["current_period_start"], "end": item["current_period_end"]},
        pretax_credit_amounts=[],
        pricing={
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        quantity=item["quantity"],
        quantity_decimal=str(item["quantity"]),
        subscription=sub["id"],
        subtotal=amount,
        taxes=[],
    )
    return line


def finalize(st: State, inv: Obj) -> None:
    customer = st.store.get(inv["customer"], "customer")
    sequence = customer["next_invoice_sequence"]
    customer["next_invoice_sequence"] = sequence + 1
    now = st.now()
    inv.update(
        status="open",
        number=f"{customer['invoice_prefix']}-{sequence:04d}",
        effective_at=now,
        ending_balance=0,
        hosted_invoice_url=f"{st.base_url}/invoices/{inv['id']}",
        invoice_pdf=f"{st.base_url}/invoices/{inv['id']}/pdf",
    )
    inv["status_transitions"]["finalized_at"] = now
    st.emit("invoice.finalized", inv)


def start_payment(st: State, inv: Obj, sub: Obj, payment_method: Obj, description: str) -> Obj:
    """The invoice's PaymentIntent and its invoice_payment (payment not yet attempted)."""
    pi = payments.payment_intent(
        st,
        amount=inv["amount_due"],
        method=payment_method["type"],
        payment_method=payment_method["id"],
        metadata={},
        customer=sub["customer"],
        description=description,
        setup_future_usage="off_session",
    )
    st.store.private[pi["id"]]["invoice"] = inv["id"]
    record = template("invoice_payment")
    record.update(
        id=new_id("inpay_"),
        amount_paid=None,
        amount_requested=inv["amount_due"],
        created=st.now(),
        currency=CURRENCY,
        invoice=inv["id"],
        is_default=True,
        livemode=False,
        payment={"type": "payment_intent", "payment_intent": pi["id"]},
        status="open",
        status_transitions={"canceled_at": None, "paid_at": None},
    )
    st.store.add(record)
    st.store.private[inv["id"]]["invoice_payment"] = record["id"]
    return pi


def invoice_mark_paid(st: State, inv: Obj) -> None:
    """The invoice and its payment record paid, as Stripe announces it."""
    record = st.store.get(st.store.private[inv["id"]]["invoice_payment"], "invoice_payment")
    now = st.now()
    inv.update(
        attempted=True,
        attempt_count=inv["attempt_count"] + 1,
        status="paid",
        amount_paid=inv["amount_due"],
        amount_remaining=0,
        auto_advance=False,
        next_payment_attempt=None,
    )
    inv["status_transitions"]["paid_at"] = now
    record.update(status="paid", amount_paid=inv["amount_due"])
    record["status_transitions"]["paid_at"] = now
    st.emit("invoice.paid", inv)
    st.emit("invoice.payment_succeeded", inv)


def invoice_settled(st: State, inv: Obj, succeed: bool) -> None:
    """After the invoice's PaymentIntent succeeded or failed: the invoice and subscription."""
    sub = st.store.get(inv["parent"]["subscription_details"]["subscription"], "subscription")
    if succeed:
        invoice_mark_paid(st, inv)
        if sub["status"] == "past_due":  # (a new subscription is activated by Checkout)
            st.changed("customer.subscription.updated", sub, status="active")
        return
    inv.update(
        attempted=True,
        attempt_count=inv["attempt_count"] + 1,
        next_payment_attempt=st.now() + 3 * methods.DAY,
    )
    st.emit("invoice.payment_failed", inv)
    if sub["status"] in ("active", "incomplete"):
        st.changed("customer.subscription.updated", sub, status="past_due")


def pay_invoice(st: State, inv: Obj, sub: Obj, payment_method: Obj, outcome: str) -> Obj:
    """Finalize the invoice and charge it; returns the PaymentIntent."""
    finalize(st, inv)
    description = (
        "Subscription creation"
        if inv["billing_reason"] == "subscription_create"
        else "Subscription update"
    )
    pi = start_payment(st, inv, sub, payment_method, description)
    mandate_id = st.store.private[payment_method["id"]].get("mandate")
    mandate = st.store.find(mandate_id) if mandate_id else None
    if mandate is not None:
        inv["payment_settings"]["default_mandate"] = mandate_id
        if mandate["status"] != "active":
            outcome = "failed"  # a revoked mandate cannot be debited
    payments.attempt(st, pi, outcome, mandate=mandate_id)
    if outcome != "processing":
        invoice_settled(st, inv, outcome == "paid")
    return pi


def sepa_from(st: State, source_pm: Obj, charge: Obj | None, customer: str) -> Obj:
    """The SEPA Direct Debit payment method and mandate a bank payment leaves behind."""
    pm = methods.payment_method(
        "sepa_debit",
        now=st.now(),
        email=source_pm["billing_details"]["email"],
        name=source_pm["billing_details"]["name"],
        generated_from=charge["id"] if charge else None,
    )
    pm["customer"] = customer
    st.store.add(pm)
    mandate = methods.mandate(payment_method_id=pm["id"], now=st.now())
    st.store.add(mandate)
    st.store.private[pm["id"]]["mandate"] = mandate["id"]
    if charge is not None:
        details = charge["payment_method_details"][source_pm["type"]]
        details.update(generated_sepa_debit=pm["id"], generated_sepa_debit_mandate=mandate["id"])
    st.emit("payment_method.attached", pm)
    return pm


def renew(st: State, sub_id: str, *, succeed: bool = True, settle: bool = True) -> Obj:
    """Next month: a new period, an invoice, and (unless collection is paused) a SEPA debit."""
    sub = st.store.get(sub_id, "subscription")
    if sub["status"] not in LIVE_STATUSES:
        raise ValueError(f"{sub_id} is {sub['status']}: nothing to renew")
    previous_items = copy.deepcopy(sub["items"])
    start = sub["items"]["data"][0]["current_period_end"]
    for item in sub["items"]["data"]:
        item.update(current_period_start=start, current_period_end=add_month(start))
    previous_start = previous_items["data"][0]["current_period_start"]
    inv = new_invoice(st, sub, reason="subscription_cycle", period=(previous_start, start))
    previous = {"items": previous_items, "latest_invoice": sub["latest_invoice"]}
    sub["latest_invoice"] = inv["id"]
    st.emit("customer.subscription.updated", sub, previous)
    paused = sub["pause_collection"]
    if paused:
        _paused_invoice(st, inv, paused["behavior"])
        return inv
    payment_method = st.store.get(sub["default_payment_method"], "payment_method")
    outcome = "processing" if payment_method["type"] in methods.ASYNC_METHODS else "paid"
    if not succeed and outcome == "paid":
        outcome = "failed"
    pi = pay_invoice(st, inv, sub, payment_method, outcome)
    if outcome == "processing" and settle and pi["status"] == "processing":
        payments.finish(st, pi, succeed=succeed)
        invoice_settled(st, inv, succeed)
    return inv


def _paused_invoice(st: State, inv: Obj, behavior: str) -> None:
    if behavior == "keep_as_draft":
        return
    finalize(st, inv)
    if behavior == "void":
        inv["status"] = "void"
        inv["status_transitions"]["voided_at"] = st.now()
        st.emit("invoice.voided", inv)
    else:
        inv["status"] = "uncollectible"
        inv["status_transitions"]["marked_uncollectible_at"] = st.now()
        st.emit("invoice.marked_uncollectible", inv)


def upcoming(st: State, sub_id: str) -> Obj:
    """invoice.upcoming: a preview of the next invoice (no id, not stored)."""
    sub = st.store.get(sub_id, "subscription")
    if sub["status"] not in LIVE_STATUSES:
        raise ValueError(f"{sub_id} is {sub['status']}: no upcoming invoice")
    preview = copy.deepcopy(sub)
    current_start = sub["items"]["data"][0]["current_period_start"]
    start = sub["items"]["data"][0]["current_period_end"]
    for item in preview["items"]["data"]:
        item.update(current_period_start=start, current_period_end=add_month(start))
    inv = build_invoice(st, preview, reason="upcoming", period=(current_start, start))
    inv.pop("id")
    inv["next_payment_attempt"] = start
    inv["lines"]["url"] = "/v1/invoices/upcoming/lines"
    return st.emit("invoice.upcoming", inv)


def revoke_mandate(st: State, mandate_id: str) -> Obj:
    mandate = st.store.get(mandate_id, "mandate")
    st.changed("mandate.updated", mandate, status="inactive")
    return mandate


def customer_for(st: State, email: str | None, name: str | None) -> Obj:
    customer = templates.customer(email=email, name=name, now=st.now())
    st.store.add(customer)
    st.emit("customer.created", customer)
    return customer
