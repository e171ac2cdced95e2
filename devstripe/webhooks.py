"""Webhook deliveries: real HTTP POSTs signed like Stripe (`Stripe-Signature: t=..,v1=..`)."""

from __future__ import annotations

import queue
import random
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import stripe

from devstripe.encoding import pretty
from devstripe.state import State
from devstripe.templates import Obj

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    url: str
    status: int  # 0: no HTTP answer (refused, timed out)
    error: str | None
    signature: str
    sent_at: float


def payload(event: Obj) -> bytes:
    """The body Stripe posts: the event as JSON, pretty-printed."""
    return pretty(event)


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp if timestamp is not None else int(time.time())
    )


class WebhookSender:
    def __init__(self, state: State) -> None:
        self.state = state
        self.url: str | None = None
        self.secret = ""
        self.auto_deliver = True
        self.timeout = 10.0
        # Trusts an https endpoint's own (self-signed) certificate: the production-shaped run.
        self.ssl_context: ssl.SSLContext | None = None
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[Obj | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="fakestripe-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=self.timeout + 5)

    def on_event(self, event: Obj) -> None:
        """Queue a new event for the configured endpoint (called under the state lock)."""
        if self.auto_deliver and self.url:
            event["pending_webhooks"] = 1
            self._queue.put(event)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once every queued event was posted (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("webhook deliveries still queued")
                self._queue.all_tasks_done.wait(remaining)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                if self.url:
                    delivery = self.post(event, self.url, self.secret)
                    if 200 <= delivery.status < 300:
                        with self.state.lock:
                            event["pending_webhooks"] = 0
                            self.state.touch()
            finally:
                self._queue.task_done()

    def post(self, event: Obj, url: str, secret: str, timestamp: int | None = None) -> Delivery:
        with self.state.lock:
            body = payload(event)
        header = signature_header(body, secret, timestamp)
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": header,
                "User-Agent": USER_AGENT,
                "Cache-Control": "no-cache",
                "Accept": "*/*; q=0.5, application/xml",
            },
        )
        status, error = 0, None
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self.ssl_context
            ) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.read()
        except (OSError, urllib.error.URLError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(event["id"], event["type"], url, status, error, header, time.time())
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def deliver(
        self,
        events: Iterable[Obj],
        *,
        times: int = 1,
        shuffle: bool = False,
        threads: int = 1,
        url: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> list[int]:
        """POST each event `times` times now; the HTTP status of each POST, in sending order."""
        target = url or self.url
        if not target:
            raise ValueError("no webhook URL: call set_webhook(url) or pass url=")
        key = self.secret if secret is None else secret
        batch = [event for event in events for _ in range(times)]
        if shuffle:
            random.shuffle(batch)
        if threads <= 1:
            return [self.post(event, target, key, timestamp).status for event in batch]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            sent = pool.map(lambda event: self.post(event, target, key, timestamp), batch)
            return [delivery.status for delivery in sent]
