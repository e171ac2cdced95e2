"""The WSGI application gunicorn serves: Stripe's webhook is answered past the page middleware
(config/lean_routes.py), every other path through all of it. Called as gunicorn calls it,
with a WSGI environ and start_response."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from config.wsgi import application
from devstripe.webhooks import signature_header
from donations.models import EventStatus, StripeEvent

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "whsec_test_lean_routes"


@pytest.fixture(autouse=True)
def webhook_secret(settings: Any) -> None:
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def _call(
    method: str, path: str, body: bytes = b"", host: str = "localhost", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "HTTP_HOST": host,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    setup_testing_defaults(environ)
    said: dict[str, Any] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        said["status"] = int(status.split()[0])
        said["headers"] = dict(response_headers)
        return lambda _: None

    chunks = application(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        chunks.close()  # as gunicorn does: request_finished, the database connection's turn
    return said["status"], said["headers"], content


def _event() -> bytes:
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "charge.refunded",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"id": "ch_lean"}},
        }
    ).encode()


def test_a_signed_event_is_stored_and_answered_with_the_security_headers() -> None:
    event = _event()

    status, headers, content = _call(
        "POST", "/stripe/webhook/", event, STRIPE_SIGNATURE=signature_header(event, SECRET)
    )

    assert (status, content) == (200, b"ok")
    stored = StripeEvent.objects.get()
    assert stored.payload == json.loads(event)
    assert stored.status == EventStatus.RECEIVED
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert len(headers["X-Request-ID"]) == 32
    # Past the page middleware: no content-security policy, frame option or cookie Vary.
    assert not {"Content-Security-Policy", "X-Frame-Options", "Vary"} & set(headers)


def test_every_other_path_still_goes_through_all_the_middleware() -> None:
    status, headers, _ = _call("GET", "/")

    assert status == 200
    assert "Content-Security-Policy" in headers
    assert headers["X-Frame-Options"] == "DENY"


def test_the_request_id_a_proxy_sent_is_kept() -> None:
    event = _event()

    _, headers, _ = _call(
        "POST",
        "/stripe/webhook/",
        event,
        STRIPE_SIGNATURE=signature_header(event, SECRET),
        X_REQUEST_ID="nginx-0123456789",
    )

    assert headers["X-Request-ID"] == "nginx-0123456789"


@pytest.mark.parametrize(
    ("method", "host", "signed", "status"),
    [
        ("POST", "localhost", False, 400),  # no signature
        ("GET", "localhost", True, 405),
        ("POST", "evil.example", True, 400),  # not in ALLOWED_HOSTS
    ],
)
def test_what_is_not_a_signed_post_to_our_host_is_refused_and_stores_nothing(
    method: str, host: str, signed: bool, status: int
) -> None:
    event = _event()
    headers = {"STRIPE_SIGNATURE": signature_header(event, SECRET)} if signed else {}

    answered, _, _ = _call(method, "/stripe/webhook/", event, host=host, **headers)

    assert answered == status
    assert StripeEvent.objects.count() == 0
