"""The /v1 API: authentication, routing, idempotency keys, the request log, JSON answers."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstripe import checkout, payments, subscriptions
from devstripe.encoding import pretty
from devstripe.errors import StripeAPIError, invalid, unrecognized_url
from devstripe.params import Params, as_int, check_known, decode, expand_paths, metadata
from devstripe.state import State
from devstripe.store import created_filter, created_range
from devstripe.templates import API_VERSION, Obj, new_id

# URL collection -> object type.
COLLECTIONS = {
    "checkout/sessions": "checkout.session",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "refunds": "refund",
    "disputes": "dispute",
    "invoices": "invoice",
    "invoice_payments": "invoice_payment",
    "subscriptions": "subscription",
    "mandates": "mandate",
    "payouts": "payout",
    "balance_transactions": "balance_transaction",
    "events": "event",
    "customers": "customer",
    "payment_methods": "payment_method",
    "products": "product",
    "prices": "price",
}
# List filters each collection takes: parameter -> field compared for equality.
FILTERS: dict[str, dict[str, str]] = {
    "checkout/sessions": {"payment_intent": "payment_intent", "subscription": "subscription",
                          "customer": "customer", "status": "status"},
    "payment_intents": {"customer": "customer"},
    "charges": {"payment_intent": "payment_intent", "customer": "customer"},
    "refunds": {"charge": "charge", "payment_intent": "payment_intent"},
    "disputes": {"charge": "charge", "payment_intent": "payment_intent"},
    "invoices": {"customer": "customer", "status": "status"},
    "invoice_payments": {"invoice": "invoice"},
    "subscriptions": {"customer": "customer"},
    "payouts": {"status": "status"},
    "balance_transactions": {"source": "source", "type": "type", "currency": "currency"},
    "events": {"type": "type"},
    "customers": {"email": "email"},
    "payment_methods": {"customer": "customer", "type": "type"},
    "products": {},
    "prices": {"product": "product"},
}  # fmt: skip
NO_LIST = {"mandates"}
IDEMPOTENCY_MESSAGE = (
    "Keys for idempotent requests can only be used with the same parameters they were first "
    "used with. Try using a key other than '{key}' if you meant to execute a different request."
)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: Params
    idempotency_key: str | None
    stripe_version: str | None
    status: int
    replayed: bool
    request_id: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


Handler = Callable[[Params, list[str]], Obj]


class Api:
    def __init__(self, state: State) -> None:
        self.state = state
        self.requests: list[RecordedRequest] = []
        # Kept in the state, so a state file keeps it too.
        self._idempotent: dict[str, tuple[tuple[str, ...], Response]] = state.idempotent
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._add_routes()

    # -- entry point -----------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> Response:
        request_id = new_id("req_", 14)
        key = headers.get("idempotency-key")
        version = headers.get("stripe-version")
        params: Params = {}
        with self.state.lock:
            try:
                params = decode(query)
                if body:
                    params.update(decode(body.decode()))
                _authenticate(headers.get("authorization", ""))
                if version and version != API_VERSION:
                    raise invalid(
                        f"fakestripe speaks API version {API_VERSION} only, not {version}"
                    )
                if method == "POST" and key:
                    replay = self._replay(key, method, path, params)
                    if replay is not None:
                        self._log(
                            method, path, params, key, version, replay.status, True, request_id
                        )
                        return replay
                self.state.set_request(request_id, key if method == "POST" else None)
                if method != "GET":
                    self.state.touch()
                try:
                    result = self._dispatch(method, path, params)
                finally:
                    self.state.set_request(None, None)
                response = self._json(200, result, request_id, key)
            except StripeAPIError as error:
                response = self._json(error.status, error.body(request_id), request_id, key)
            if method == "POST" and key and response.status in (200, 402):
                self._idempotent[key] = ((method, path, _fingerprint(params)), response)
            self._log(method, path, params, key, version, response.status, False, request_id)
            return response

    def _replay(self, key: str, method: str, path: str, params: Params) -> Response | None:
        stored = self._idempotent.get(key)
        if stored is None:
            return None
        fingerprint, response = stored
        if fingerprint != (method, path, _fingerprint(params)):
            raise StripeAPIError(400, IDEMPOTENCY_MESSAGE.format(key=key), type="idempotency_error")
        headers = {
            **response.headers,
            "Idempotent-Replayed": "true",
            "Original-Request": response.headers["Request-Id"],
        }
        return Response(response.status, response.body, headers)

    def _log(
        self,
        method: str,
        path: str,
        params: Params,
        key: str | None,
        version: str | None,
        status: int,
        replayed: bool,
        request_id: str,
    ) -> None:
        self.requests.append(
            RecordedRequest(method, path, params, key, version, status, replayed, request_id)
        )

    def _json(self, status: int, obj: Obj, request_id: str, key: str | None) -> Response:
        headers = {
            "Content-Type": "application/json",
            "Request-Id": request_id,
            "Stripe-Version": API_VERSION,
        }
        if key:
            headers["Idempotency-Key"] = key
        return Response(status, pretty(obj), headers)

    def _dispatch(self, method: str, path: str, params: Params) -> Obj:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler(params, list(match.groups()))
        raise unrecognized_url(method, path)

    # -- routes ----------------------------------------------------------------------------

    def _add_routes(self) -> None:
        st = self.state
        add = self._route
        add("POST", "/v1/checkout/sessions", lambda p, a: self._out(checkout.create(st, p), p))
        add(
            "POST",
            "/v1/checkout/sessions/{id}/expire",
            lambda p, a: self._out(checkout.expire(st, a[0]), p, {"expand"}),
        )
        add("GET", "/v1/checkout/sessions/{id}/line_items", self._line_items)
        add("POST", "/v1/refunds", self._create_refund)
        add(
            "POST",
            "/v1/subscriptions/{id}",
            lambda p, a: self._out(subscriptions.update_subscription(st, a[0], p), p),
        )
        add(
            "DELETE",
            "/v1/subscriptions/{id}",
            lambda p, a: self._out(subscriptions.cancel_subscription(st, a[0], p), p),
        )
        for collection, kind in COLLECTIONS.items():
            add("GET", f"/v1/{collection}/{{id}}", self._retriever(kind))
            if collection not in NO_LIST:
                add("GET", f"/v1/{collection}", self._lister(collection, kind))

    def _route(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.compile(re.escape(template).replace(re.escape("{id}"), r"([^/]+)"))
        self._routes.append((method, pattern, handler))

    def _out(self, obj: Obj, params: Params, allowed: set[str] | None = None) -> Obj:
        if allowed is not None:
            check_known(params, allowed)
        return self.state.store.render(obj, expand_paths(params))

    def _retriever(self, kind: str) -> Handler:
        def retrieve(params: Params, args: list[str]) -> Obj:
            return self._out(self.state.store.get(args[0], kind), params, {"expand"})

        return retrieve

    def _lister(self, collection: str, kind: str) -> Handler:
        filters = FILTERS[collection]

        def list_all(params: Params, args: list[str]) -> Obj:
            store = self.state.store
            wanted = {name: params[name] for name in filters if name in params}
            created_filter(params)  # refuses a bad `created`; created_range applies it
            extra = _special_filter(self.state, collection, params)
            items = store.of_kind(
                kind,
                lambda o: (
                    all(o.get(filters[name]) == value for name, value in wanted.items())
                    and extra(o)
                ),
                created=created_range(params),
            )
            return store.list_page(
                items,
                params,
                url=f"/v1/{collection}",
                kind=kind,
                filters=[*filters, *SPECIAL_FILTERS.get(collection, ())],
            )

        return list_all

    def _line_items(self, params: Params, args: list[str]) -> Obj:
        session = self.state.store.get(args[0], "checkout.session")
        items = self.state.store.private[session["id"]].get("line_items", [])
        url = f"/v1/checkout/sessions/{session['id']}/line_items"
        return self.state.store.list_page(items, params, url=url, kind="item")

    def _create_refund(self, params: Params, args: list[str]) -> Obj:
        check_known(
            params,
            {
                "amount",
                "charge",
                "payment_intent",
                "reason",
                "metadata",
                "expand",
                "currency",
                "instructions_email",
                "origin",
                "customer",
                "refund_application_fee",
                "reverse_transfer",
            },
        )
        st = self.state
        if "charge" in params:
            charge_id, param = params["charge"], "charge"
        elif "payment_intent" in params:
            pi = st.store.get(params["payment_intent"], "payment_intent", "payment_intent")
            if not pi["latest_charge"]:
                raise invalid(f"PaymentIntent {pi['id']} has no successful charge to refund.")
            charge_id, param = pi["latest_charge"], "payment_intent"
        else:
            raise invalid(
                "One of the following params should be provided for this request: "
                "payment_intent or charge."
            )
        amount = as_int(params["amount"], "amount") if "amount" in params else None
        reason = params.get("reason")
        if reason is not None and reason not in (
            "duplicate",
            "fraudulent",
            "requested_by_customer",
        ):
            raise invalid(f"Invalid reason: {reason}", param="reason")
        refund = payments.refund(
            st,
            charge_id,
            amount,
            reason=reason,
            metadata=metadata(params.get("metadata", {})),
            param=param,
        )
        return self._out(refund, params)


SPECIAL_FILTERS = {
    "balance_transactions": ("payout",),
    "events": ("types", "delivery_success"),
    "subscriptions": ("status",),
    "invoices": ("subscription",),
    "invoice_payments": ("payment",),
    "checkout/sessions": ("payment_link",),
}


def _special_filter(st: State, collection: str, params: Params) -> Callable[[Obj], bool]:
    if collection == "balance_transactions" and "payout" in params:
        payout_id = params["payout"]
        st.store.get(payout_id, "payout", "payout")
        return lambda o: st.store.private[o["id"]].get("payout") == payout_id
    if collection == "events" and "types" in params:
        types = set(params["types"])
        return lambda o: o["type"] in types
    if collection == "subscriptions":
        status = params.get("status")
        if status == "all":
            return lambda o: True
        if status:
            return lambda o: o["status"] == status
        return lambda o: o["status"] != "canceled"  # Stripe hides them unless asked
    if collection == "invoices" and "subscription" in params:
        sub_id = params["subscription"]
        return lambda o: (
            (o.get("parent") or {}).get("subscription_details", {}).get("subscription") == sub_id
        )
    if collection == "invoice_payments" and "payment" in params:
        # payment[type]=payment_intent&payment[payment_intent]=pi_...: the invoice a payment paid
        wanted = params["payment"]
        if not isinstance(wanted, dict) or wanted.get("type") != "payment_intent":
            raise invalid("payment[type] must be payment_intent.", param="payment[type]")
        return lambda o: (
            (o.get("payment") or {}).get("payment_intent") == wanted.get("payment_intent")
        )
    if collection == "checkout/sessions" and "payment_link" in params:
        return lambda o: o.get("payment_link") == params["payment_link"]
    return lambda o: True


def _authenticate(header: str) -> None:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic":
        credentials = base64.b64decode(credentials).decode().partition(":")[0]
    if not credentials:
        raise StripeAPIError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or "
            "we can help at https://support.stripe.com/.",
        )
    if not credentials.startswith(("sk_test_", "rk_test_")):
        raise StripeAPIError(401, f"Invalid API Key provided: {credentials[:8]}****")


def _fingerprint(params: Params) -> str:
    return json.dumps(params, sort_keys=True)


def control_payload(value: Any) -> bytes:
    return json.dumps(value, indent=2, default=str).encode()
