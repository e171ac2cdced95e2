"""The inbound bounce route: the MTA that receives mail for the VERP bounce address posts each
message here, raw (Postfix pipe + curl, docs/operations.md). 404 unless MAILING_BOUNCE_SECRET is
set; a wrong token 403; a body over MAILING_BOUNCE_MAX_BYTES 413; a feedback-loop report (ARF)
counts a complaint (mailing/arf.py); anything that is neither 200
(nothing to retry). A database outage answers 5xx, so the MTA keeps the message and tries again."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mailing.dsn import dsn_receive


@csrf_exempt  # a machine posts here with a bearer token, no cookies
@require_POST
def bounce_inbound(request: HttpRequest) -> HttpResponse:
    secret = settings.MAILING_BOUNCE_SECRET
    if not secret:
        raise Http404
    given = request.headers.get("Authorization", "")
    if not constant_time_compare(given.encode(), f"Bearer {secret}".encode()):
        return JsonResponse({"error": "bad token"}, status=403)
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return JsonResponse({"error": "bad Content-Length"}, status=400)
    if length <= 0:
        return JsonResponse({"error": "empty body"}, status=400)
    if length > settings.MAILING_BOUNCE_MAX_BYTES:
        return JsonResponse({"error": "message too large"}, status=413)
    result = dsn_receive(request.read(settings.MAILING_BOUNCE_MAX_BYTES))
    return JsonResponse(
        {
            "dsn": result.is_dsn,
            "counted": result.counted,
            "suppressed": result.suppressed,
            "complaints": result.complaints,
        }
    )
