"""The fake Stripe server, driven by the real stripe-python through donations.stripe_api."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from devstripe.methods import DAY
from devstripe.server import FakeStripe
from donations import stripe_api

EUR = "eur"


def one_off_params(amount: int = 2500, **extra: Any) -> dict[str, Any]:
    return {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": EUR,
                    "unit_amount": amount,
                    "product_data": {"name": "Gift to Save the Survivors"},
                },
                "quantity": 1,
            }
        ],
        "payment_method_types": ["ideal", "card", "bancontact"],
        "success_url": "http://127.0.0.1:9/thanks?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:9/cancelled",
        "customer_email": "donor@example.org",
        "metadata": {"donation_uuid": "d-1"},
        "payment_intent_data": {"metadata": {"donation_uuid": "d-1"}},
        **extra,
    }


def monthly_params(amount: int = 1000, methods: list[str] | None = None) -> dict[str, Any]:
    return {
        "mode": "subscription",
        "line_items": [
            {
                "price_data": {
                    "currency": EUR,
                    "unit_amount": amount,
                    "recurring": {"interval": "month"},
                    "product_data": {"name": "Monthly gift"},
                },
                "quantity": 1,
            }
        ],
        "payment_method_types": methods or ["ideal"],
        "success_url": "http://127.0.0.1:9/thanks",
        "cancel_url": "http://127.0.0.1:9/cancelled",
        "customer_email": "donor@example.org",
        "subscription_data": {"metadata": {"recurring_uuid": "r-1"}},
    }


def paid_one_off(fake: FakeStripe, method: str = "ideal", key: str = "k") -> dict[str, Any]:
    session = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key=key)
    fake.complete_checkout(session["id"], "paid", method)
    completed = stripe_api.checkout_session_retrieve(session["id"])
    return stripe_api.payment_intent_retrieve(completed["payment_intent"]["id"])


def error_body(error: stripe.StripeError) -> dict[str, Any]:
    body = error.json_body
    assert isinstance(body, dict)
    return dict(body["error"])


class Receiver:
    """A tiny webhook endpoint: keeps each body and signature, answers with `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[bytes, str | None]] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    receiver.received.append((body, self.headers.get("Stripe-Signature")))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


# -- idempotency, checkout, expand ----------------------------------------------------------


def test_same_idempotency_key_gives_one_session(fake_stripe: FakeStripe) -> None:
    first = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="gift-1")
    second = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="gift-1")

    assert first["id"] == second["id"]
    assert len(fake_stripe.objects("checkout.session")) == 1
    posts = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert [(r.idempotency_key, r.replayed) for r in posts] == [("gift-1", False), ("gift-1", True)]
    assert posts[0].params["line_items"][0]["price_data"]["unit_amount"] == "2500"
    assert posts[0].params["payment_method_types"] == ["ideal", "card", "bancontact"]
    assert first["url"] == f"{fake_stripe.api_base}/pay/" + first["id"]
    assert (first["amount_total"], first["currency"], first["status"]) == (2500, EUR, "open")
    assert first["payment_intent"] is None  # created when the donor pays


def test_same_key_with_other_parameters_is_an_idempotency_error(fake_stripe: FakeStripe) -> None:
    stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="gift-1")
    with pytest.raises(stripe.IdempotencyError, match="same parameters") as error:
        stripe_api.checkout_session_create(params=one_off_params(3000), idempotency_key="gift-1")
    assert error.value.http_status == 400
    assert error_body(error.value)["type"] == "idempotency_error"


def test_completed_one_off_payment_reads_like_stripe(fake_stripe: FakeStripe) -> None:
    session = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="g")
    fake_stripe.complete_checkout(session["id"], outcome="paid", method="ideal")

    completed = stripe_api.checkout_session_retrieve(session["id"])
    assert (completed["status"], completed["payment_status"]) == ("complete", "paid")
    assert completed["payment_intent"]["latest_charge"]["object"] == "charge"  # nested expand
    pi = stripe_api.payment_intent_retrieve(completed["payment_intent"]["id"])
    assert pi["status"] == "succeeded"
    assert pi["metadata"] == {"donation_uuid": "d-1"}
    assert pi["payment_method"]["type"] == "ideal"
    txn = pi["latest_charge"]["balance_transaction"]
    assert (txn["amount"], txn["fee"], txn["net"], txn["currency"]) == (2500, 29, 2471, EUR)
    assert pi["latest_charge"]["payment_method_details"]["ideal"]["bank"] == "ing"
    assert fake_stripe.event_types() == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    event = fake_stripe.events("checkout.session.completed")[0]
    assert event["api_version"] == stripe_api.API_VERSION
    assert event["data"]["object"]["payment_intent"] == pi["id"]


@pytest.mark.parametrize(
    ("method", "fee"), [("card", 63), ("ideal", 29), ("bancontact", 60), ("sepa_debit", 35)]
)
def test_fees_per_method(fake_stripe: FakeStripe, method: str, fee: int) -> None:
    params = one_off_params(payment_method_types=[method])
    session = stripe_api.checkout_session_create(params=params, idempotency_key=method)
    fake_stripe.complete_checkout(session["id"], "paid", method)
    pi_id = stripe_api.checkout_session_retrieve(session["id"])["payment_intent"]["id"]
    charge = stripe_api.payment_intent_retrieve(pi_id)["latest_charge"]
    assert charge["balance_transaction"]["fee"] == fee
    assert charge["payment_method_details"]["type"] == method


def test_processing_payment_settles_later(fake_stripe: FakeStripe) -> None:
    params = one_off_params(payment_method_types=["sepa_debit"])
    session = stripe_api.checkout_session_create(params=params, idempotency_key="sepa")
    fake_stripe.complete_checkout(session["id"], "processing", "sepa_debit")
    completed = stripe_api.checkout_session_retrieve(session["id"])
    assert completed["payment_status"] == "unpaid"
    assert completed["payment_intent"]["status"] == "processing"
    assert completed["payment_intent"]["latest_charge"]["balance_transaction"] is None

    fake_stripe.settle(completed["payment_intent"]["id"], succeed=False)
    assert fake_stripe.event_types()[-3:] == [
        "charge.failed",
        "payment_intent.payment_failed",
        "checkout.session.async_payment_failed",
    ]
    pi = stripe_api.payment_intent_retrieve(completed["payment_intent"]["id"])
    assert pi["status"] == "requires_payment_method"
    assert pi["last_payment_error"]["code"] == "insufficient_funds"


def test_failed_payment_leaves_the_session_open(fake_stripe: FakeStripe) -> None:
    session = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="f")
    fake_stripe.complete_checkout(session["id"], "failed", "card")
    assert stripe_api.checkout_session_retrieve(session["id"])["status"] == "open"
    assert fake_stripe.event_types()[-1] == "payment_intent.payment_failed"


# -- errors ---------------------------------------------------------------------------------


def test_errors_have_stripes_shape(fake_stripe: FakeStripe) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_api.payment_intent_retrieve("pi_nope")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    assert error_body(missing.value)["message"] == "No such payment_intent: 'pi_nope'"

    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: colour"):
        stripe_api.checkout_session_create(params=one_off_params(colour="red"), idempotency_key="x")

    monthly_as_one_off = {**monthly_params(), "mode": "payment"}
    monthly_as_one_off.pop("subscription_data")
    with pytest.raises(stripe.InvalidRequestError, match="recurring price"):
        stripe_api.checkout_session_create(params=monthly_as_one_off, idempotency_key="y")

    request = urllib.request.Request(f"{fake_stripe.api_base}/v1/charges/ch_1")
    with pytest.raises(urllib.error.HTTPError) as unauthenticated:
        urllib.request.urlopen(request)
    assert unauthenticated.value.code == 401


def test_dispute_balance_transactions_are_embedded_not_expandable(
    fake_stripe: FakeStripe,
) -> None:
    """Real Stripe always embeds dispute.balance_transactions and refuses to expand them."""
    charge_id = paid_one_off(fake_stripe, "card")["latest_charge"]["id"]
    dispute = fake_stripe.dispute(charge_id)
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        stripe_api.client().v1.disputes.retrieve(
            dispute["id"], {"expand": ["balance_transactions"]}
        )
    plain = stripe_api.dispute_retrieve(dispute["id"])
    assert [t["amount"] for t in plain["balance_transactions"]] == [-2500]
    assert plain["balance_transactions"][0]["fee"] == 1500
    assert plain["balance_transactions"][0]["net"] == -4000

    fake_stripe.close_dispute(dispute["id"], won=True)
    closed = stripe_api.client().v1.disputes.retrieve(dispute["id"])
    assert closed["status"] == "won"
    assert [t["amount"] for t in closed["balance_transactions"]] == [-2500, 2500]
    assert fake_stripe.event_types()[-4:] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]


# -- refunds, payouts ------------------------------------------------------------------------


def test_refund_and_payout(fake_stripe: FakeStripe) -> None:
    charge_id = paid_one_off(fake_stripe, "card")["latest_charge"]["id"]
    refund = fake_stripe.refund(charge_id, 1000)
    charge = stripe_api.charge_retrieve(charge_id)
    assert (charge["amount_refunded"], charge["refunded"]) == (1000, False)
    assert [(r["id"], r["balance_transaction"]["amount"]) for r in charge["refunds"]["data"]] == [
        (refund["id"], -1000)
    ]
    assert fake_stripe.event_types()[-2:] == ["charge.refunded", "refund.created"]

    fake_stripe.advance_time(2 * DAY)  # the card's money is available two days on
    payout = fake_stripe.payout()
    assert payout["amount"] == 2500 - 63 - 1000
    settled = list(stripe_api.balance_transactions_for_payout(payout["id"]))
    assert sorted((t["type"], t["net"]) for t in settled) == [
        ("charge", 2437),
        ("payout", -1437),
        ("refund", -1000),
    ]
    sources = {t["type"]: t["source"]["object"] for t in settled}  # data.source expanded
    assert sources == {"charge": "charge", "refund": "refund", "payout": "payout"}
    assert stripe_api.payout_retrieve(payout["id"])["status"] == "paid"
    assert fake_stripe.event_types()[-2:] == ["payout.paid", "payout.reconciliation_completed"]


def test_balance_transactions_page_through_a_big_payout(fake_stripe: FakeStripe) -> None:
    for index in range(60):
        paid_one_off(fake_stripe, "ideal", key=f"gift-{index}")
        fake_stripe.refund(fake_stripe.objects("charge")[0]["id"], 100)
    fake_stripe.advance_time(2 * DAY)
    payout = fake_stripe.payout()
    settled = list(stripe_api.balance_transactions_for_payout(payout["id"]))
    assert len(settled) == 121
    assert sum(t["net"] for t in settled) == 0
    pages = fake_stripe.requests_to("GET", "/v1/balance_transactions")
    assert [r.params.get("starting_after") is not None for r in pages] == [False, True]


def test_a_payout_settles_only_what_is_available(fake_stripe: FakeStripe) -> None:
    # Given a card gift (available at midnight UTC two days on) and a SEPA debit (seven days).
    card = paid_one_off(fake_stripe, "card", key="card")["latest_charge"]
    debit = fake_stripe.dashboard_payment(
        amount=5000, email="bank@example.org", name="Bea Bank", method="sepa_debit"
    )
    sepa = fake_stripe.get(debit["latest_charge"])
    card_balance = fake_stripe.get(card["balance_transaction"]["id"])
    sepa_balance = fake_stripe.get(sepa["balance_transaction"])
    start = fake_stripe.advance_time(0)
    day = start // DAY * DAY
    assert (card_balance["available_on"], sepa_balance["available_on"]) == (
        day + 2 * DAY,
        day + 7 * DAY,
    )

    # Before either is available there is nothing to pay out.
    with pytest.raises(ValueError, match="nothing to pay out"):
        fake_stripe.payout()

    # On the card's day the payout settles the card only; the debit stays pending.
    fake_stripe.advance_time(day + 2 * DAY - start)
    first = fake_stripe.payout()
    assert first["amount"] == card_balance["net"]
    settled = {t["source"]["id"] for t in stripe_api.balance_transactions_for_payout(first["id"])}
    assert card["id"] in settled
    assert sepa["id"] not in settled
    assert fake_stripe.get(sepa_balance["id"])["status"] == "pending"

    # A day before the debit's is still too early; on its day it is paid out.
    fake_stripe.advance_time(4 * DAY)
    with pytest.raises(ValueError, match="1 still pending"):
        fake_stripe.payout()
    fake_stripe.advance_time(DAY)
    second = fake_stripe.payout()
    assert second["amount"] == sepa_balance["net"]
    assert fake_stripe.get(sepa_balance["id"])["status"] == "available"


# -- events ---------------------------------------------------------------------------------


def test_events_since_pages_through_more_than_a_hundred(fake_stripe: FakeStripe) -> None:
    for index in range(30):
        paid_one_off(fake_stripe, "card", key=f"gift-{index}")
    assert len(fake_stripe.events()) == 120

    events = list(stripe_api.events_since(0))

    assert [e["id"] for e in events] == [e["id"] for e in fake_stripe.events()]  # oldest first
    listed = fake_stripe.requests_to("GET", "/v1/events")
    assert len(listed) == 2
    assert listed[0].params == {"created": {"gt": "0"}, "limit": "100"}
    assert listed[1].params["starting_after"] == events[-100]["id"]
    later = list(stripe_api.events_since(int(time.time()) + 5))
    assert later == []


def test_event_retrieve_and_events_filtered_by_created(fake_stripe: FakeStripe) -> None:
    paid_one_off(fake_stripe)
    first = fake_stripe.events()[0]
    fetched = stripe_api.client().v1.events.retrieve(first["id"])
    assert fetched["type"] == "payment_intent.created"
    fake_stripe.advance_time(3600)
    paid_one_off(fake_stripe, key="later")
    newer = list(stripe_api.events_since(first["created"] + 60))
    assert len(newer) == 4
    assert all(e["created"] >= first["created"] + 3600 for e in newer)


@pytest.mark.parametrize(
    ("bounds", "listed"),
    [
        ({"gte": 1, "lte": 2}, [1, 2]),
        ({"gt": 1, "lt": 3}, [2]),
        ({"gt": 2}, [3]),
        ({"lte": 1}, [0, 1]),
        ({"gte": 0, "lt": 0}, []),
    ],
)
def test_charges_listed_by_created_range_as_stripe_bounds_it(
    fake_stripe: FakeStripe, bounds: dict[str, int], listed: list[int]
) -> None:
    # Given four paid charges an hour apart, the last made after a first list call
    made = []
    for hour in range(4):
        if hour == 3:
            stripe_api.charges_page(created_from=0, created_to=made[-1])
        made.append(paid_one_off(fake_stripe, key=f"hour-{hour}")["latest_charge"]["created"])
        fake_stripe.advance_time(3600)

    # When charges are listed with the bounds (each the time of one of the charges)
    created = {op: made[n] for op, n in bounds.items()}
    page = stripe_api.client().raw_request("get", "/v1/charges", created=created).data

    # Then the page holds exactly the charges made within them, newest first
    assert [made.index(c["created"]) for c in page["data"]] == sorted(listed, reverse=True)


# -- webhooks -------------------------------------------------------------------------------


def test_delivered_webhook_verifies(fake_stripe: FakeStripe, receiver: Receiver) -> None:
    webhook_target_url = receiver.url
    fake_stripe.set_webhook(webhook_target_url)
    paid_one_off(fake_stripe)
    deliveries = fake_stripe.wait_for_deliveries()

    assert [d.status for d in deliveries] == [200] * 4
    assert len(receiver.received) == 4
    for body, signature in receiver.received:
        stripe_api.webhook_verify(body, signature)  # raises if the signature is wrong
    event = stripe.Event.construct_from(json.loads(receiver.received[-1][0]), "sk_test_fake")
    assert event["type"] == "checkout.session.completed"
    assert all(e["pending_webhooks"] == 0 for e in fake_stripe.events())


def test_wrong_secret_or_old_timestamp_fail_verification(
    fake_stripe: FakeStripe, receiver: Receiver
) -> None:
    fake_stripe.auto_deliver = False
    fake_stripe.set_webhook(receiver.url)
    paid_one_off(fake_stripe)
    assert receiver.received == []  # collected only: as if the webhook missed them
    event = fake_stripe.events()[-1]

    fake_stripe.deliver([event], secret="whsec_not_ours")
    fake_stripe.deliver([event["id"]], timestamp=int(time.time()) - 3600)
    fake_stripe.deliver([event])

    (wrong_key, old, good) = receiver.received
    with pytest.raises(stripe_api.SignatureError):
        stripe_api.webhook_verify(*wrong_key)
    with pytest.raises(stripe_api.SignatureError, match="tolerance"):
        stripe_api.webhook_verify(*old)
    stripe_api.webhook_verify(*good)
    assert good[0] == fake_stripe.payload(event)


def test_webhook_storm(fake_stripe: FakeStripe, receiver: Receiver) -> None:
    fake_stripe.auto_deliver = False
    fake_stripe.set_webhook(receiver.url)
    paid_one_off(fake_stripe)
    receiver.status = 500
    assert fake_stripe.deliver(times=2) == [500] * 8
    receiver.status = 200
    statuses = fake_stripe.deliver(times=5, shuffle=True, threads=8)
    assert statuses == [200] * 20
    assert len(receiver.received) == 28
    ids = [json.loads(body)["id"] for body, _ in receiver.received[8:]]
    assert sorted(set(ids)) == sorted(e["id"] for e in fake_stripe.events())


def test_webhook_target_fixture(
    fake_stripe: FakeStripe,
    webhook_target: Any,
    receiver: Receiver,
) -> None:
    webhook_target(receiver.url)
    paid_one_off(fake_stripe)
    fake_stripe.wait_for_deliveries()
    assert len(receiver.received) == 4


# -- subscriptions --------------------------------------------------------------------------


def test_monthly_gift_from_ideal_to_sepa(fake_stripe: FakeStripe) -> None:
    session = stripe_api.checkout_session_create(params=monthly_params(), idempotency_key="m")
    fake_stripe.complete_checkout(session["id"], "paid", "ideal")

    completed = stripe_api.checkout_session_retrieve(session["id"])
    assert completed["payment_intent"] is None
    sub = stripe_api.subscription_retrieve(completed["subscription"]["id"])
    assert (sub["status"], sub["metadata"]) == ("active", {"recurring_uuid": "r-1"})
    assert sub["items"]["data"][0]["price"]["unit_amount"] == 1000
    assert sub["pause_collection"] is None
    assert sub["default_payment_method"]["type"] == "sepa_debit"
    invoice = stripe_api.invoice_retrieve(sub["latest_invoice"])
    assert (invoice["billing_reason"], invoice["status"], invoice["amount_paid"]) == (
        "subscription_create",
        "paid",
        1000,
    )
    assert invoice["parent"]["subscription_details"]["subscription"] == sub["id"]
    pi_id = invoice["payments"]["data"][0]["payment"]["payment_intent"]
    charge = stripe_api.payment_intent_retrieve(pi_id)["latest_charge"]
    ideal = charge["payment_method_details"]["ideal"]
    assert ideal["generated_sepa_debit"] == sub["default_payment_method"]["id"]
    mandate = stripe_api.mandate_retrieve(ideal["generated_sepa_debit_mandate"])
    assert mandate["status"] == "active"
    assert mandate["payment_method_details"]["sepa_debit"]["reference"]
    for expected in (
        "customer.subscription.created",
        "invoice.paid",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ):
        assert expected in fake_stripe.event_types()

    fake_stripe.announce_upcoming(sub["id"])
    assert fake_stripe.events()[-1]["type"] == "invoice.upcoming"
    renewal = fake_stripe.renew(sub["id"])
    assert (renewal["billing_reason"], renewal["status"]) == ("subscription_cycle", "paid")
    types = fake_stripe.event_types()
    assert types.index("payment_intent.processing") < len(types) - 1
    assert types[-4:] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    renewed_charge = fake_stripe.get(fake_stripe.objects("charge")[0]["id"])
    assert renewed_charge["payment_method_details"]["sepa_debit"]["mandate"] == mandate["id"]

    failed = fake_stripe.renew(sub["id"], succeed=False)
    assert failed["status"] == "open"
    assert fake_stripe.event_types()[-4:] == [
        "charge.failed",
        "payment_intent.payment_failed",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    assert stripe_api.subscription_retrieve(sub["id"])["status"] == "past_due"


def test_subscription_update_cancel_and_revoked_mandate(fake_stripe: FakeStripe) -> None:
    session = stripe_api.checkout_session_create(params=monthly_params(), idempotency_key="m")
    fake_stripe.complete_checkout(session["id"])
    sub = stripe_api.subscription_retrieve(
        stripe_api.checkout_session_retrieve(session["id"])["subscription"]["id"]
    )
    item = sub["items"]["data"][0]
    changed = stripe_api.subscription_update(
        sub["id"],
        params={
            "items": [
                {
                    "id": item["id"],
                    "price_data": {
                        "currency": EUR,
                        "product": item["price"]["product"],
                        "unit_amount": 1500,
                        "recurring": {"interval": "month"},
                    },
                }
            ],
            "proration_behavior": "none",
        },
        idempotency_key="amount-1",
    )
    assert changed["items"]["data"][0]["price"]["unit_amount"] == 1500
    updated = fake_stripe.events("customer.subscription.updated")[-1]
    assert updated["request"]["idempotency_key"] == "amount-1"
    assert "items" in updated["data"]["previous_attributes"]

    paused = stripe_api.subscription_update(
        sub["id"], params={"pause_collection": {"behavior": "void"}}, idempotency_key="pause-1"
    )
    assert paused["pause_collection"]["behavior"] == "void"
    assert fake_stripe.renew(sub["id"])["status"] == "void"
    resumed = stripe_api.subscription_update(
        sub["id"], params={"pause_collection": ""}, idempotency_key="resume-1"
    )
    assert resumed["pause_collection"] is None

    mandate_id = fake_stripe.objects("mandate")[0]["id"]
    fake_stripe.revoke_mandate(mandate_id)
    assert fake_stripe.events()[-1]["type"] == "mandate.updated"
    assert stripe_api.mandate_retrieve(mandate_id)["status"] == "inactive"
    assert fake_stripe.renew(sub["id"])["status"] == "open"  # a revoked mandate is not debited

    cancelled = stripe_api.subscription_cancel(sub["id"], idempotency_key="stop-1")
    assert cancelled["status"] == "canceled"
    assert fake_stripe.events()[-1]["type"] == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError, match="No such subscription"):
        stripe_api.subscription_cancel(sub["id"], idempotency_key="stop-2")


# -- the hosted page ------------------------------------------------------------------------


def test_pay_page_over_plain_http(fake_stripe: FakeStripe) -> None:
    session = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="p")
    page = urllib.request.urlopen(session["url"]).read().decode()
    assert "€25,00" in page
    assert "One-off payment" in page
    assert "iDEAL" in page

    form = urllib.parse.urlencode({"method": "bancontact", "action": "pay"}).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(session["url"], data=form)
    assert redirect.value.code == 303
    location = redirect.value.headers["Location"]
    assert location == f"http://127.0.0.1:9/thanks?session={session['id']}"
    charge = stripe_api.checkout_session_retrieve(session["id"])["payment_intent"]["latest_charge"]
    assert charge["payment_method_details"]["type"] == "bancontact"


@pytest.mark.browser
def test_pay_page_in_chromium(fake_stripe: FakeStripe, page: Any, receiver: Receiver) -> None:
    params = monthly_params(methods=["ideal", "card"])
    params["success_url"] = receiver.url.replace("/stripe/webhook", "/thanks/{CHECKOUT_SESSION_ID}")
    session = stripe_api.checkout_session_create(params=params, idempotency_key="b")
    page.goto(session["url"])
    assert page.get_by_test_id("amount").inner_text() == "€10,00 per month"
    page.get_by_label("Card").check()
    with page.expect_request(lambda request: "/thanks/" in request.url) as redirected:
        page.get_by_role("button", name="Pay").click()
    assert redirected.value.url.endswith(f"/thanks/{session['id']}")
    completed = stripe_api.checkout_session_retrieve(session["id"])
    assert (
        completed["subscription"]["default_payment_method"]
        == fake_stripe.objects("payment_method")[0]["id"]
    )


# -- control over HTTP, threads, shapes -----------------------------------------------------


def test_http_control_endpoint(fake_stripe: FakeStripe) -> None:
    session = stripe_api.checkout_session_create(params=one_off_params(), idempotency_key="c")
    body = json.dumps({"session_id": session["id"], "method": "card"}).encode()
    request = urllib.request.Request(
        f"{fake_stripe.api_base}/_test/complete_checkout", data=body, method="POST"
    )
    result = json.loads(urllib.request.urlopen(request).read())
    assert result["status"] == "complete"


def test_many_threads_at_once(fake_stripe: FakeStripe) -> None:
    errors: list[BaseException] = []
    sessions: set[str] = set()

    def run(work: Any, *args: Any) -> None:
        try:
            work(*args)
        except BaseException as exc:  # noqa: BLE001 - collected and checked below
            errors.append(exc)

    def create(index: int) -> None:
        params = one_off_params()
        session = stripe_api.checkout_session_create(
            params=params, idempotency_key=f"g{index % 10}"
        )
        sessions.add(stripe_api.checkout_session_retrieve(session["id"])["id"])

    def pay(session_id: str) -> None:
        fake_stripe.complete_checkout(session_id, "paid", "card")
        pi_id = stripe_api.checkout_session_retrieve(session_id)["payment_intent"]["id"]
        assert stripe_api.payment_intent_retrieve(pi_id)["status"] == "succeeded"

    for work, args in ((create, lambda: range(30)), (pay, lambda: sorted(sessions))):
        threads = [threading.Thread(target=run, args=(work, arg)) for arg in args()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
    assert len(sessions) == 10  # one per idempotency key
    assert len(fake_stripe.objects("checkout.session")) == 10
    assert len(fake_stripe.objects("charge")) == 10


def _declared_fields(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names |= {n for n in getattr(klass, "__annotations__", {}) if not n.startswith("_")}
    return names - {"OBJECT_NAME"}


def _check_shape(obj: dict[str, Any], cls: type, where: str) -> None:
    unknown = set(obj) - _declared_fields(cls)
    assert not unknown, f"{where}: fields stripe-python 16 does not know: {sorted(unknown)}"
    for key, value in obj.items():
        nested = getattr(cls, "".join(part.title() for part in key.split("_")), None)
        if isinstance(value, dict) and isinstance(nested, type) and "object" not in value:
            _check_shape(value, nested, f"{where}.{key}")


def test_every_object_has_only_fields_of_this_api_version(fake_stripe: FakeStripe) -> None:
    for method in ("card", "ideal", "bancontact", "sepa_debit"):
        params = monthly_params(methods=[method])
        session = stripe_api.checkout_session_create(params=params, idempotency_key=method)
        fake_stripe.complete_checkout(session["id"], "paid", method)
        paid_one_off(fake_stripe, "card", key=f"once-{method}")
    sub_id = fake_stripe.objects("subscription")[0]["id"]
    fake_stripe.renew(sub_id)
    charge_id = fake_stripe.objects("charge")[0]["id"]
    fake_stripe.refund(charge_id, 100)
    fake_stripe.dispute(charge_id)
    fake_stripe.advance_time(7 * DAY)  # the SEPA debits' money too
    fake_stripe.payout()
    classes = {
        "checkout.session": stripe.checkout.Session,
        "payment_intent": stripe.PaymentIntent,
        "charge": stripe.Charge,
        "balance_transaction": stripe.BalanceTransaction,
        "refund": stripe.Refund,
        "dispute": stripe.Dispute,
        "payout": stripe.Payout,
        "invoice": stripe.Invoice,
        "invoice_payment": stripe.InvoicePayment,
        "subscription": stripe.Subscription,
        "mandate": stripe.Mandate,
        "customer": stripe.Customer,
        "payment_method": stripe.PaymentMethod,
        "event": stripe.Event,
        "price": stripe.Price,
        "product": stripe.Product,
    }
    for kind, cls in classes.items():
        objects = fake_stripe.objects(kind)
        assert objects, kind
        for obj in objects:
            _check_shape(obj, cls, kind)


def test_payments_from_other_doors_have_only_fields_of_this_api_version(
    fake_stripe: FakeStripe,
) -> None:
    session = fake_stripe.payment_link_pay(amount=1000, email="a@example.org", name="A B")
    fake_stripe.payment_link_pay(
        amount=1500, email="m@example.org", name="M N", method="ideal", monthly=True
    )
    intent = fake_stripe.dashboard_payment(
        amount=2000, email="d@example.org", name="D E", method="sepa_debit"
    )
    invoice = fake_stripe.invoice_pay(amount=3000, email="i@example.org", name="I J", locale="en")
    sub = fake_stripe.dashboard_subscription(amount=1250, email="s@example.org", name="S T")

    # What each door looks like at Stripe: nothing of ours, the donor where Stripe keeps them.
    assert session["payment_link"].startswith("plink_")
    assert (session["metadata"], session["client_reference_id"]) == ({}, None)
    assert session["customer_details"]["name"] == "A B"
    assert fake_stripe.get(intent["id"])["status"] == "succeeded"
    assert intent["metadata"] == {}
    charge = fake_stripe.get(intent["id"], ["latest_charge"])["latest_charge"]
    assert charge["billing_details"]["email"] == "d@example.org"
    assert (invoice["status"], invoice["parent"], invoice["amount_paid"]) == ("paid", None, 3000)
    customer = fake_stripe.get(invoice["customer"])
    assert customer["preferred_locales"] == ["en"]
    assert (sub["status"], sub["metadata"]) == ("active", {})
    assert sub["items"]["data"][0]["price"]["unit_amount_decimal"] == "1250"
    found = stripe_api.invoice_for_payment_intent(
        fake_stripe.objects("invoice_payment")[0]["payment"]["payment_intent"]
    )
    assert found is not None
    assert found["id"] == fake_stripe.objects("invoice")[0]["id"]
    link = fake_stripe.objects("payment_link")
    assert len(link) == 2
    classes = {
        "checkout.session": stripe.checkout.Session,
        "payment_link": stripe.PaymentLink,
        "payment_intent": stripe.PaymentIntent,
        "charge": stripe.Charge,
        "invoice": stripe.Invoice,
        "invoice_payment": stripe.InvoicePayment,
        "subscription": stripe.Subscription,
        "customer": stripe.Customer,
        "event": stripe.Event,
    }
    for kind, cls in classes.items():
        for obj in fake_stripe.objects(kind):
            _check_shape(obj, cls, kind)
