"""POST /stripe/webhook/: verify, store once, answer. Processing happens in the worker."""

from __future__ import annotations

from typing import Any

import structlog
from django.db import DatabaseError, DataError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from donations import stripe_api
from donations.envelope import MalformedEvent, event_parse
from donations.inbox import stripe_event_receive

log = structlog.get_logger(__name__)


@csrf_exempt  # Stripe signs the body instead; there is no session or form here.
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    payload = request.body
    try:
        # Stripe sends UTF-8; stripe-python decodes the body to check the signature, and a
        # body that is not UTF-8 cannot be an event either way.
        text = payload.decode()
    except UnicodeDecodeError:
        return _malformed("not UTF-8")
    try:
        stripe_api.webhook_verify(text, request.headers.get("Stripe-Signature"))
    except stripe_api.SignatureError:
        log.warning("donations.webhook_bad_signature")
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    try:
        event = event_parse(text)
    except MalformedEvent as exc:
        return _malformed(str(exc))
    event_id = event["id"]
    try:
        created = _receive(event, payload)
    except DataError as exc:
        # PostgreSQL refused a value (a \u0000 or lone surrogate in the JSON, say): the body,
        # not the database, is at fault, and no retry will change it.
        return _malformed(f"refused by the database: {type(exc.__cause__).__name__}")
    except DatabaseError:
        # Not stored, so not acknowledged: Stripe retries for up to three days.
        log.exception("donations.webhook_store_failed", stripe_event=event_id)
        return HttpResponse("temporarily unavailable", status=503, content_type="text/plain")
    log.info("donations.webhook_received", stripe_event=event_id, type=event["type"], new=created)
    return HttpResponse("ok", content_type="text/plain")


def _receive(event: dict[str, Any], payload: bytes) -> bool:
    """stripe_event_receive, its INSERT standing in for the connection's health check.

    Django asks a reused connection `SELECT 1` before a request's first query
    (CONN_HEALTH_CHECKS): a round trip on every delivery, about a tenth of the webhook's CPU in
    a storm. Here the INSERT goes first. If it finds the connection gone (the database
    restarted, a pooler dropped it), the connection is closed and the INSERT runs once more on
    a new one, which is what the check would have given. Repeating it is safe: an event is
    stored once.
    """
    reused = connection.connection is not None
    # Django's own mark that this request's check is done (not in django-stubs).
    connection.health_check_done = True  # type: ignore[attr-defined]
    try:
        return stripe_event_receive(event=event, raw=payload, via="webhook")
    except (InterfaceError, OperationalError):
        if not reused or connection.in_atomic_block or connection.is_usable():
            raise  # not a connection that died while idle: the caller answers 503
    log.info("donations.webhook_connection_renewed")
    connection.close()
    return stripe_event_receive(event=event, raw=payload, via="webhook")


def _malformed(reason: str) -> HttpResponse:
    log.warning("donations.webhook_malformed_event", reason=reason)
    return HttpResponse("malformed event", status=400, content_type="text/plain")
