"""Subscription changes through the API: POST /v1/subscriptions/<id> and DELETE (cancel)."""

from __future__ import annotations

import copy

from devstripe import templates
from devstripe.billing import plan_from_price, subscription_item
from devstripe.errors import invalid, missing_param, no_such
from devstripe.params import (
    Params,
    as_bool,
    as_dict,
    as_int,
    as_list,
    check_known,
    merge_metadata,
    one_of,
    require,
)
from devstripe.state import State
from devstripe.templates import Obj

UPDATE_PARAMS = {
    "add_invoice_items", "application_fee_percent", "automatic_tax", "billing_cycle_anchor",
    "billing_mode", "billing_thresholds", "cancel_at", "cancel_at_period_end",
    "cancellation_details", "collection_method", "days_until_due", "default_payment_method",
    "default_source", "default_tax_rates", "description", "discounts", "expand",
    "invoice_settings", "items", "metadata", "off_session", "on_behalf_of", "pause_collection",
    "payment_behavior", "payment_settings", "pending_invoice_item_interval",
    "proration_behavior", "proration_date", "transfer_data", "trial_end", "trial_from_plan",
    "trial_settings",
}  # fmt: skip
ITEM_PARAMS = {
    "billing_thresholds", "clear_usage", "deleted", "discounts", "id", "metadata", "price",
    "price_data", "quantity", "tax_rates",
}  # fmt: skip
PRICE_DATA_PARAMS = {"currency", "product", "recurring", "tax_behavior", "unit_amount",
                     "unit_amount_decimal"}  # fmt: skip


def update_subscription(st: State, sub_id: str, params: Params) -> Obj:
    sub = st.store.get(sub_id, "subscription")
    check_known(params, UPDATE_PARAMS)
    if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise invalid(
            "A canceled subscription can only update its cancellation_details and metadata.",
        )
    before = copy.deepcopy(sub)
    if "metadata" in params:
        sub["metadata"] = merge_metadata(sub["metadata"], params["metadata"])
    if "pause_collection" in params:
        sub["pause_collection"] = _pause_collection(params["pause_collection"])
    if "cancel_at_period_end" in params:
        sub["cancel_at_period_end"] = as_bool(
            params["cancel_at_period_end"], "cancel_at_period_end"
        )
    if "description" in params:
        sub["description"] = params["description"] or None
    if "default_payment_method" in params:
        pm_id = params["default_payment_method"]
        st.store.get(pm_id, "payment_method", "default_payment_method")
        sub["default_payment_method"] = pm_id
    if "proration_behavior" in params:
        one_of(
            params["proration_behavior"],
            ("always_invoice", "create_prorations", "none"),
            "proration_behavior",
        )
    if "items" in params:
        _update_items(st, sub, as_list(params["items"], "items"))
    previous = {key: before[key] for key in sub if sub[key] != before[key]}
    if previous:
        st.emit("customer.subscription.updated", sub, previous)
    return sub


def _pause_collection(value: object) -> Obj | None:
    if value == "":
        return None
    pause = as_dict(value, "pause_collection")
    check_known(pause, {"behavior", "resumes_at"}, "pause_collection")
    behavior = one_of(
        require(pause, "behavior", "pause_collection"),
        ("keep_as_draft", "mark_uncollectible", "void"),
        "pause_collection[behavior]",
    )
    resumes_at = pause.get("resumes_at")
    return {
        "behavior": behavior,
        "resumes_at": as_int(resumes_at, "pause_collection[resumes_at]") if resumes_at else None,
    }


def _update_items(st: State, sub: Obj, updates: list[object]) -> None:
    items: list[Obj] = sub["items"]["data"]
    for index, raw in enumerate(updates):
        prefix = f"items[{index}]"
        update = as_dict(raw, prefix)
        check_known(update, ITEM_PARAMS, prefix)
        item = None
        if "id" in update:
            item = next((i for i in items if i["id"] == update["id"]), None)
            if item is None:
                raise no_such("subscription_item", update["id"], f"{prefix}[id]")
            if as_bool(update.get("deleted", "false"), f"{prefix}[deleted]"):
                items.remove(item)
                continue
        price = _item_price(st, update, prefix)
        quantity = as_int(
            update.get("quantity", item["quantity"] if item else 1), f"{prefix}[quantity]"
        )
        if item is None:
            if price is None:
                raise missing_param(f"{prefix}[price]")
            start = items[0]["current_period_start"] if items else st.now()
            items.append(subscription_item(st, sub["id"], price, quantity, start))
            continue
        if price is not None:
            item.update(price=copy.deepcopy(price), plan=plan_from_price(price))
        item["quantity"] = quantity
        if "metadata" in update:
            item["metadata"] = merge_metadata(
                item["metadata"], update["metadata"], f"{prefix}[metadata]"
            )
    if not items:
        raise invalid("A subscription must have at least one active plan.", param="items")


def _item_price(st: State, update: Obj, prefix: str) -> Obj | None:
    if "price" in update:
        return st.store.get(update["price"], "price", f"{prefix}[price]")
    if "price_data" not in update:
        return None
    name = f"{prefix}[price_data]"
    data = as_dict(update["price_data"], name)
    check_known(data, PRICE_DATA_PARAMS, name)
    currency = require(data, "currency", name)
    product_id = require(data, "product", name)
    st.store.get(product_id, "product", f"{name}[product]")
    recurring = as_dict(require(data, "recurring", name), f"{name}[recurring]")
    check_known(recurring, {"interval", "interval_count"}, f"{name}[recurring]")
    interval = one_of(
        require(recurring, "interval", f"{name}[recurring]"),
        ("day", "week", "month", "year"),
        f"{name}[recurring][interval]",
    )
    amount = as_int(
        data.get("unit_amount", data.get("unit_amount_decimal")), f"{name}[unit_amount]"
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


def cancel_subscription(st: State, sub_id: str, params: Params) -> Obj:
    sub = st.store.get(sub_id, "subscription")
    check_known(params, {"cancellation_details", "expand", "invoice_now", "prorate"})
    if sub["status"] == "canceled":
        raise no_such("subscription", sub_id)  # what Stripe answers for a second cancel
    now = st.now()
    details = as_dict(params.get("cancellation_details", {}), "cancellation_details")
    sub.update(
        status="canceled",
        canceled_at=now,
        ended_at=now,
        cancellation_details={
            "comment": details.get("comment"),
            "feedback": details.get("feedback"),
            "reason": "cancellation_requested",
        },
    )
    st.emit("customer.subscription.deleted", sub)
    return sub
