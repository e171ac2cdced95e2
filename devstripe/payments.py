"""PaymentIntents, charges and the money they move: balance transactions, refunds, disputes,
payouts. Each function runs under the state lock and emits the events Stripe emits.
"""

from __future__ import annotations

from devstripe import methods, templates
from devstripe.errors import StripeAPIError
from devstripe.state import State
from devstripe.templates import CURRENCY, Obj, new_id, template

OUTCOMES = ("paid", "processing", "failed")


def payment_intent(
    st: State,
    *,
    amount: int,
    method: str,
    payment_method: str,
    metadata: dict[str, str],
    customer: str | None,
    description: str | None,
    setup_future_usage: str | None = None,
) -> Obj:
    pi = template("payment_intent")
    pi_id = new_id("pi_")
    pi.update(
        id=pi_id,
        amount=amount,
        amount_capturable=0,
        amount_received=0,
        automatic_payment_methods=None,
        canceled_at=None,
        capture_method="automatic_async",
        client_secret=f"{pi_id}_secret_{new_id('', 25)}",
        created=st.now(),
        currency=CURRENCY,
        customer=customer,
        description=description,
        last_payment_error=None,
        latest_charge=None,
        metadata=dict(metadata),
        next_action=None,
        payment_method=payment_method,
        payment_method_configuration_details=None,
        payment_method_options={method: {}},
        payment_method_types=[method],
        processing=None,
        setup_future_usage=setup_future_usage,
        shipping=None,
        status="requires_payment_method",
        transfer_data=None,
        managed_payments={"enabled": False},
    )
    st.store.add(pi)
    st.store.private[pi_id]["method"] = method
    st.emit("payment_intent.created", pi)
    return pi


def attempt(st: State, pi: Obj, outcome: str, mandate: str | None = None) -> Obj:
    """Confirm the PaymentIntent: a charge that succeeds, stays pending, or fails."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    method = st.store.private[pi["id"]]["method"]
    pm = st.store.get(pi["payment_method"], "payment_method")
    charge = template("charge")
    charge.pop("refunds")  # includable: only sent when expanded
    charge.update(
        id=new_id(methods.charge_prefix(method)),
        amount=pi["amount"],
        amount_captured=pi["amount"] if outcome != "failed" else 0,
        amount_refunded=0,
        balance_transaction=None,
        billing_details=pm["billing_details"],
        calculated_statement_descriptor="SAVE THE CHILDREN",
        captured=outcome != "failed",
        created=st.now(),
        currency=CURRENCY,
        customer=pi["customer"],
        description=pi["description"],
        disputed=False,
        metadata=dict(pi["metadata"]),
        outcome=_outcome(approved=outcome != "failed"),
        paid=False,
        payment_intent=pi["id"],
        payment_method=pm["id"],
        payment_method_details=methods.charge_details(method, mandate=mandate, amount=pi["amount"]),
        receipt_url=f"{st.base_url}/receipts/{pi['id']}",
        shipping=None,
        source=None,
        status="pending",
        transfer_data=None,
    )
    st.store.add(charge)
    pi["latest_charge"] = charge["id"]
    if outcome == "processing":
        st.emit("charge.pending", charge)
        pi["status"] = "processing"
        st.emit("payment_intent.processing", pi)
    else:
        finish(st, pi, succeed=outcome == "paid")
    return charge


def finish(st: State, pi: Obj, *, succeed: bool) -> None:
    """A pending (or just confirmed) charge succeeds or fails; its PaymentIntent follows."""
    charge = st.store.get(pi["latest_charge"], "charge")
    method = st.store.private[pi["id"]]["method"]
    if succeed:
        amount = charge["amount"]
        txn = templates.balance_transaction(
            amount=amount,
            fee=methods.fee(method, amount),
            source=charge["id"],
            type=methods.balance_type(method),
            category="charge",
            description=charge["description"],
            available_on=methods.available_on(method, st.now()),
            now=st.now(),
        )
        st.store.add(txn)
        charge.update(status="succeeded", paid=True, balance_transaction=txn["id"])
        st.emit("charge.succeeded", charge)
        pi.update(status="succeeded", amount_received=amount)
        st.emit("payment_intent.succeeded", pi)
        return
    code, message = methods.DECLINES[method]
    charge.update(
        status="failed",
        paid=False,
        captured=False,
        amount_captured=0,
        failure_code=code,
        failure_message=message,
        outcome=_outcome(approved=False),
    )
    st.emit("charge.failed", charge)
    pi.update(
        status="requires_payment_method",
        last_payment_error={
            "charge": charge["id"],
            "code": code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "message": message,
            "payment_method": st.store.render(st.store.get(pi["payment_method"], "payment_method")),
            "type": "card_error" if method == "card" else "invalid_request_error",
        },
    )
    st.emit("payment_intent.payment_failed", pi)


def legacy_charge(
    st: State,
    *,
    amount: int,
    email: str,
    name: str,
    metadata: dict[str, str] | None = None,
    description: str | None = None,
) -> Obj:
    """A card charge made with the legacy Charges API (`POST /v1/charges` with a card token, as
    older integrations still do): no PaymentIntent (`payment_intent: null`), the donor in
    `billing_details` and `receipt_email`, captured at once. Stripe sends only
    `charge.succeeded` for it."""
    pm = st.store.add(methods.payment_method("card", now=st.now(), email=email, name=name))
    charge = template("charge")
    charge.pop("refunds")  # includable: only sent when expanded
    charge_id = new_id("ch_")
    txn = templates.balance_transaction(
        amount=amount,
        fee=methods.fee("card", amount),
        source=charge_id,
        type="charge",
        category="charge",
        description=description,
        available_on=methods.available_on("card", st.now()),
        now=st.now(),
    )
    st.store.add(txn)
    charge.update(
        id=charge_id,
        amount=amount,
        amount_captured=amount,
        amount_refunded=0,
        balance_transaction=txn["id"],
        billing_details=pm["billing_details"],
        calculated_statement_descriptor="SAVE THE CHILDREN",
        captured=True,
        created=st.now(),
        currency=CURRENCY,
        customer=None,
        description=description,
        disputed=False,
        metadata=dict(metadata or {}),
        outcome=_outcome(approved=True),
        paid=True,
        payment_intent=None,
        payment_method=pm["id"],
        payment_method_details=methods.charge_details("card", amount=amount),
        receipt_email=email,
        receipt_url=f"{st.base_url}/receipts/{charge_id}",
        shipping=None,
        source=None,
        status="succeeded",
        transfer_data=None,
    )
    st.store.add(charge)
    st.emit("charge.succeeded", charge)
    return charge


def _outcome(*, approved: bool) -> Obj:
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if approved else "declined_by_network",
        "reason": None if approved else "generic_decline",
        "risk_level": "normal",
        "risk_score": 20,
        "seller_message": (
            "Payment complete."
            if approved
            else "The bank did not return any further details with this decline."
        ),
        "type": "authorized" if approved else "issuer_declined",
    }


def refund(
    st: State,
    charge_id: str,
    amount: int | None = None,
    *,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
    param: str = "charge",
) -> Obj:
    charge = st.store.get(charge_id, "charge", param)
    remaining = charge["amount"] - charge["amount_refunded"]
    if charge["status"] != "succeeded":
        raise StripeAPIError(
            400,
            f"This charge {charge_id} cannot be refunded because it has not succeeded.",
            code="charge_not_refundable",
        )
    if charge["disputed"]:
        raise StripeAPIError(
            400,
            f"Charge {charge_id} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    if remaining == 0:
        raise StripeAPIError(
            400, f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
        )
    amount = remaining if amount is None else amount
    if not 0 < amount <= remaining:
        raise StripeAPIError(
            400,
            f"Refund amount (€{amount / 100:.2f}) is greater than unrefunded amount on charge "
            f"(€{remaining / 100:.2f})",
            code="amount_too_large" if amount > 0 else "amount_too_small",
            param="amount",
        )
    method = charge["payment_method_details"]["type"]
    refund_obj = template("refund")
    refund_id = new_id("re_")
    txn = templates.balance_transaction(
        amount=-amount,
        fee=0,
        source=refund_id,
        type="refund",
        category="refund",
        description="REFUND FOR CHARGE",
        available_on=st.now(),
        now=st.now(),
    )
    st.store.add(txn)
    refund_obj.update(
        id=refund_id,
        amount=amount,
        balance_transaction=txn["id"],
        charge=charge_id,
        created=st.now(),
        currency=CURRENCY,
        destination_details=methods.refund_destination(method),
        metadata=dict(metadata or {}),
        payment_intent=charge["payment_intent"],
        payment_method=charge["payment_method"],
        customer=charge["customer"],
        reason=reason,
        status="succeeded",
    )
    st.store.add(refund_obj)
    refunded = charge["amount_refunded"] + amount
    st.changed(
        "charge.refunded",
        charge,
        amount_refunded=refunded,
        refunded=refunded == charge["amount"],
    )
    st.emit("refund.created", refund_obj)
    return refund_obj


def dispute(st: State, charge_id: str, reason: str = "fraudulent") -> Obj:
    charge = st.store.get(charge_id, "charge")
    if charge["disputed"] or charge["status"] != "succeeded":
        raise ValueError(f"{charge_id} is already disputed or was never paid")
    dispute_id = new_id("dp_")
    amount = charge["amount"]
    txn = templates.balance_transaction(
        amount=-amount,
        fee=methods.DISPUTE_FEE,
        source=dispute_id,
        type="adjustment",
        category="dispute",
        description=f"Chargeback withdrawal for {charge_id}",
        available_on=st.now(),
        now=st.now(),
        fee_description="Dispute fee",
    )
    st.store.add(txn)
    obj = template("dispute")
    obj["evidence"]["enhanced_evidence"] = {}
    obj.update(
        id=dispute_id,
        amount=amount,
        balance_transactions=[txn["id"]],  # always sent embedded (see store.EMBEDDED)
        charge=charge_id,
        created=st.now(),
        currency=CURRENCY,
        evidence_details={
            "due_by": st.now() + 7 * methods.DAY,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "enhanced_eligibility": {},
        },
        is_charge_refundable=False,
        metadata={},
        payment_intent=charge["payment_intent"],
        payment_method_details=methods.dispute_details(charge["payment_method_details"]["type"]),
        reason=reason,
        status="needs_response",
        enhanced_eligibility_types=[],
    )
    st.store.add(obj)
    charge["disputed"] = True
    st.emit("charge.dispute.created", obj)
    st.emit("charge.dispute.funds_withdrawn", obj)
    return obj


def close_dispute(st: State, dispute_id: str, won: bool) -> Obj:
    obj = st.store.get(dispute_id, "dispute")
    if obj["status"] in ("won", "lost"):
        raise ValueError(f"{dispute_id} is already closed ({obj['status']})")
    if won:
        txn = templates.balance_transaction(
            amount=obj["amount"],
            fee=0,
            source=dispute_id,
            type="adjustment",
            category="dispute_reversal",
            description=f"Chargeback reversal for {obj['charge']}",
            available_on=st.now(),
            now=st.now(),
        )
        st.store.add(txn)
        obj["balance_transactions"].append(txn["id"])
        obj["status"] = "won"
        st.emit("charge.dispute.funds_reinstated", obj)
    else:
        obj["status"] = "lost"
    st.emit("charge.dispute.closed", obj)
    return obj


def payout(st: State) -> Obj:
    """Pay out every balance transaction that is available (its `available_on` has come) and
    not yet paid out, as one automatic payout; the others stay pending for a later one."""
    now = st.now()
    unpaid = [
        txn
        for txn in st.store.of_kind("balance_transaction")
        if not st.store.private[txn["id"]].get("payout")
    ]
    for txn in unpaid:
        if txn["available_on"] <= now:
            txn["status"] = "available"
    available = [txn for txn in unpaid if txn["status"] == "available"]
    total = sum(txn["net"] for txn in available)
    if total <= 0:
        pending = len(unpaid) - len(available)
        raise ValueError(f"nothing to pay out (available {total}, {pending} still pending)")
    payout_id = new_id("po_")
    txn = templates.balance_transaction(
        amount=-total,
        fee=0,
        source=payout_id,
        type="payout",
        category="payout",
        description="STRIPE PAYOUT",
        available_on=now,
        now=now,
    )
    st.store.add(txn)
    for settled in [*available, txn]:
        st.store.private[settled["id"]]["payout"] = payout_id
        settled["status"] = "available"
    obj = template("payout")
    obj.update(
        id=payout_id,
        amount=total,
        arrival_date=(now // methods.DAY + 2) * methods.DAY,
        automatic=True,
        balance_transaction=txn["id"],
        created=now,
        currency=CURRENCY,
        destination=new_id("ba_"),
        metadata={},
        reconciliation_status="in_progress",
        statement_descriptor=None,
        status="pending",
        trace_id={"status": "pending", "value": None},
    )
    st.store.add(obj)
    st.emit("payout.created", obj)
    st.changed(
        "payout.paid", obj, status="paid", trace_id={"status": "supported", "value": new_id("")}
    )
    st.changed("payout.reconciliation_completed", obj, reconciliation_status="completed")
    return obj
