"""POST /stripe/webhook/: verify, store once, answer. Processing happens in the worker."""

from __future__ import annotations

import structlog
from django.db import DatabaseError, DataError
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
        created = stripe_event_receive(event=event, raw=payload, via="webhook")
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


def _malformed(reason: str) -> HttpResponse:
    log.warning("donations.webhook_malformed_event", reason=reason)
    return HttpResponse("malformed event", status=400, content_type="text/plain")
