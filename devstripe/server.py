"""FakeStripe: a Stripe-speaking HTTP server on 127.0.0.1 for tests, and its control API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from devstripe import billing, checkout, doors, pages, payments, persist, webhooks
from devstripe.api import Api, RecordedRequest, control_payload
from devstripe.errors import StripeAPIError
from devstripe.state import State
from devstripe.templates import Obj
from devstripe.webhooks import Delivery

DEFAULT_WEBHOOK_SECRET = "whsec_fakestripe_test_secret"
# Control methods also reachable as POST /_test/<name> with a JSON object of keyword arguments.
HTTP_CONTROLS = (
    "complete_checkout",
    "expire_checkout",
    "settle",
    "renew",
    "announce_upcoming",
    "revoke_mandate",
    "refund",
    "dispute",
    "close_dispute",
    "payout",
    "advance_time",
    "payment_link_pay",
    "dashboard_payment",
    "invoice_pay",
    "dashboard_subscription",
    "legacy_charge",
)


class FakeStripe:
    """Start with `FakeStripe().start()` (or `with FakeStripe() as fake:`); point
    settings.STRIPE_API_BASE at `fake.api_base`. Every method is safe from any thread."""

    def __init__(
        self,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        settle_after: float | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.state = State()
        self.state.settle_after = settle_after
        if state_file is not None:
            self._keep_on_disk(state_file)
        self.api = Api(self.state)
        self.webhooks = webhooks.WebhookSender(self.state)
        self.webhooks.secret = webhook_secret
        self.state.on_event = self.webhooks.on_event
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Seconds each `GET /v1/events` list takes (outside the lock): a slow Stripe, so a
        # test can stop a long reconcile between two pages.
        self.events_list_delay = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeStripe:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self.state.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fakestripe", daemon=True
        )
        self._thread.start()
        self.webhooks.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.webhooks.stop()

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _keep_on_disk(self, path: Path) -> None:
        """Load the account saved at `path` (if any), then save it there after every change.
        Debits that were settling by themselves when it stopped settle again, from now."""
        with self.state.lock:
            persist.load(self.state, path)
            self.state.saver = lambda: persist.save(self.state, path)
            if self.state.settle_after is not None:
                for session_id, private in self.state.store.private.items():
                    if "settles" in private:
                        checkout.settle_later(self.state, session_id, succeed=private["settles"])

    def deliver_pending(self) -> int:
        """Queue every event not yet delivered to the endpoint (after a restart: Stripe
        delivers at least once, so the app may see some twice). Returns how many."""
        with self.state.lock:
            pending = [e for e in self.state.events if e.get("pending_webhooks")]
            for event in pending:
                self.webhooks.on_event(event)
            return len(pending)

    @property
    def api_base(self) -> str:
        return self.state.base_url

    # -- webhooks --------------------------------------------------------------------------

    @property
    def webhook_secret(self) -> str:
        return self.webhooks.secret

    @property
    def auto_deliver(self) -> bool:
        return self.webhooks.auto_deliver

    @auto_deliver.setter
    def auto_deliver(self, on: bool) -> None:
        self.webhooks.auto_deliver = on

    def set_webhook(self, url: str | None, secret: str | None = None) -> None:
        """Where events go (None: nowhere); new events are posted there while auto_deliver."""
        self.webhooks.url = url
        if secret is not None:
            self.webhooks.secret = secret

    def deliver(
        self,
        events: Iterable[Obj | str] | None = None,
        *,
        times: int = 1,
        shuffle: bool = False,
        threads: int = 1,
        url: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> list[int]:
        """POST events (all by default; event dicts or ids) now, each `times` times, in
        `threads` parallel senders; `secret`/`timestamp` sign with a wrong key or an old time.
        Returns the HTTP status of every POST (0 when the endpoint did not answer)."""
        with self.state.lock:
            chosen = [self._event(e) for e in events] if events is not None else self.events()
        return self.webhooks.deliver(
            chosen,
            times=times,
            shuffle=shuffle,
            threads=threads,
            url=url,
            secret=secret,
            timestamp=timestamp,
        )

    def wait_for_deliveries(self, timeout: float = 10.0) -> list[Delivery]:
        """Wait until every automatically queued event was posted; all deliveries so far."""
        self.webhooks.wait_idle(timeout)
        return self.deliveries

    @property
    def deliveries(self) -> list[Delivery]:
        with self.webhooks._lock:
            return list(self.webhooks.deliveries)

    def payload(self, event: Obj | str) -> bytes:
        with self.state.lock:
            return webhooks.payload(self._event(event))

    def signature_header(
        self, payload: bytes, *, secret: str | None = None, timestamp: int | None = None
    ) -> str:
        return webhooks.signature_header(payload, secret or self.webhook_secret, timestamp)

    # -- events and objects ----------------------------------------------------------------

    def events(self, type: str | None = None) -> list[Obj]:
        """Every event so far, oldest first (optionally of one type)."""
        with self.state.lock:
            return [e for e in self.state.events if type is None or e["type"] == type]

    def event_types(self) -> list[str]:
        return [e["type"] for e in self.events()]

    def _event(self, event: Obj | str) -> Obj:
        return event if isinstance(event, dict) else self.state.store.get(event, "event")

    def get(self, obj_id: str, expand: Iterable[str] = ()) -> Obj:
        """Any object as the API would send it."""
        with self.state.lock:
            obj = self.state.store.find(obj_id)
            if obj is None:
                raise KeyError(obj_id)
            return self.state.store.render(obj, expand)

    def objects(self, kind: str) -> list[Obj]:
        """All objects of a type (e.g. "charge"), newest first."""
        with self.state.lock:
            return [self.state.store.render(o) for o in self.state.store.of_kind(kind)]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.api.requests)

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def clear_requests(self) -> None:
        with self.state.lock:
            self.api.requests.clear()

    def advance_time(self, seconds: int) -> int:
        """Move the fake account's clock (object and event `created`); returns its new now."""
        with self.state.lock:
            self.state.clock_offset += seconds
            self.state.touch()
            return self.state.now()

    # -- scenarios -------------------------------------------------------------------------

    def complete_checkout(
        self, session_id: str, outcome: str = "paid", method: str | None = None
    ) -> Obj:
        """Pay (or fail) a session as a donor would; `method` defaults to its first type."""
        with self.state.lock:
            return self.state.store.render(
                checkout.complete(self.state, session_id, outcome, method)
            )

    def expire_checkout(self, session_id: str) -> Obj:
        with self.state.lock:
            return self.state.store.render(checkout.expire(self.state, session_id))

    def settle(self, payment_intent_id: str, succeed: bool = True) -> Obj:
        with self.state.lock:
            return self.state.store.render(checkout.settle(self.state, payment_intent_id, succeed))

    def renew(self, subscription_id: str, succeed: bool = True, settle: bool = True) -> Obj:
        """Next month's invoice, paid by SEPA (processing, then settled unless settle=False)."""
        with self.state.lock:
            return self.state.store.render(
                billing.renew(self.state, subscription_id, succeed=succeed, settle=settle)
            )

    def announce_upcoming(self, subscription_id: str) -> Obj:
        """Emit invoice.upcoming; returns the event."""
        with self.state.lock:
            return billing.upcoming(self.state, subscription_id)

    def revoke_mandate(self, mandate_id: str) -> Obj:
        with self.state.lock:
            return self.state.store.render(billing.revoke_mandate(self.state, mandate_id))

    def refund(self, charge_id: str, amount: int | None = None, reason: str | None = None) -> Obj:
        with self.state.lock:
            return self.state.store.render(
                payments.refund(self.state, charge_id, amount, reason=reason)
            )

    def dispute(self, charge_id: str, reason: str = "fraudulent") -> Obj:
        with self.state.lock:
            return self.state.store.render(payments.dispute(self.state, charge_id, reason))

    def close_dispute(self, dispute_id: str, won: bool) -> Obj:
        with self.state.lock:
            return self.state.store.render(payments.close_dispute(self.state, dispute_id, won))

    def payout(self) -> Obj:
        with self.state.lock:
            return self.state.store.render(payments.payout(self.state))

    # -- doors other than our donate page (doors.py) ------------------------------------------

    def payment_link_pay(self, **scenario: Any) -> Obj:
        """A donor pays through a Payment Link; returns the Checkout Session."""
        with self.state.lock:
            return self.state.store.render(doors.payment_link_pay(self.state, **scenario))

    def dashboard_payment(self, **scenario: Any) -> Obj:
        """A payment made in the dashboard (or by another site); returns the PaymentIntent."""
        with self.state.lock:
            return self.state.store.render(doors.dashboard_payment(self.state, **scenario))

    def invoice_pay(self, **scenario: Any) -> Obj:
        """A one-off invoice, paid; returns the invoice."""
        with self.state.lock:
            return self.state.store.render(doors.invoice_pay(self.state, **scenario))

    def dashboard_subscription(self, **scenario: Any) -> Obj:
        """A subscription made in the dashboard, first invoice paid; returns it."""
        with self.state.lock:
            return self.state.store.render(doors.dashboard_subscription(self.state, **scenario))

    def legacy_charge(self, **scenario: Any) -> Obj:
        """A card charge made with the legacy Charges API (no PaymentIntent); returns it."""
        with self.state.lock:
            return self.state.store.render(payments.legacy_charge(self.state, **scenario))


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fakestripe"
        timeout = 30  # idle keep-alive connections are dropped

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, delayed ACKs add 40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read fake.requests instead."""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            if url.path.startswith("/v1/"):
                if method == "GET" and url.path == "/v1/events" and fake.events_list_delay:
                    time.sleep(fake.events_list_delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                response = fake.api.handle(method, url.path, url.query, body, headers)
                self._send(response.status, response.headers, response.body)
            elif url.path.startswith("/pay/"):
                self._pay(method, url.path.removeprefix("/pay/"), body)
            elif url.path.startswith("/_test/") and method == "POST":
                self._control(url.path.removeprefix("/_test/"), body)
            else:
                self._send(404, {"Content-Type": "text/plain"}, b"Not Found")

        def _pay(self, method: str, session_id: str, body: bytes) -> None:
            html = {"Content-Type": "text/html; charset=utf-8"}
            with fake.state.lock:
                session = fake.state.store.find(session_id)
                if session is None or session["object"] != "checkout.session":
                    self._send(404, html, pages._page("Checkout", "<h1>No such session</h1>"))
                    return
                if method == "GET":
                    self._send(200, html, pages.show(fake.state, session))
                    return
                fake.state.touch()
                status, headers, page = pages.submit(fake.state, session, body)
            self._send(status, {**html, **headers}, page)

        def _control(self, name: str, body: bytes) -> None:
            json_type = {"Content-Type": "application/json"}
            if name not in HTTP_CONTROLS:
                self._send(404, json_type, control_payload({"error": f"no control {name}"}))
                return
            try:
                with fake.state.lock:  # saved (with a state file) before it is answered
                    fake.state.touch()
                    result = getattr(fake, name)(**json.loads(body or b"{}"))
            except (ValueError, KeyError, TypeError, StripeAPIError) as exc:
                self._send(400, json_type, control_payload({"error": str(exc)}))
                return
            self._send(200, json_type, control_payload(result))

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
