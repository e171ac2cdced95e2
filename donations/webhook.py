"""POST /stripe/webhook/: verify, store once, answer. Processing happens in the worker."""

from __future__ import annotations

import json

import structlog
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from donations import stripe_api
from donations.inbox import stripe_event_receive

log = structlog.get_logger(__name__)


@csrf_exempt  # Stripe signs the body instead; there is no session or form here.
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    payload = request.body
    try:
        stripe_api.webhook_verify(payload, request.headers.get("Stripe-Signature"))
    except stripe_api.SignatureError:
        log.warning("donations.webhook_bad_signature")
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    try:
        event = json.loads(payload)
        event_id, event_type = event["id"], event["type"]
    except (ValueError, KeyError, TypeError):
        return HttpResponse("malformed event", status=400, content_type="text/plain")
    try:
        created = stripe_event_receive(event=event, raw=payload, via="webhook")
    except DatabaseError:
        # Not stored, so not acknowledged: Stripe retries for up to three days.
        log.exception("donations.webhook_store_failed", stripe_event=event_id)
        return HttpResponse("temporarily unavailable", status=503, content_type="text/plain")
    log.info("donations.webhook_received", stripe_event=event_id, type=event_type, new=created)
    return HttpResponse("ok", content_type="text/plain")
