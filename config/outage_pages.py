"""503 instead of 500 for every request that finds PostgreSQL gone.

A database restart or a network cut fails every request the same way, at connect or midway,
in a view or in a middleware (the session is read and saved there). Django hands any such
uncaught exception to `handler500` inside its except block, so this one view sees them all:
a lost database gets 503 with Retry-After and a short page in the visitor's language (JSON
under /api/), rendered without touching the database; anything else gets Django's own 500.
Django then logs the failure with its traceback, and worker.outage.OutageLogFilter turns
that into one `outage.waiting` warning per interval ("API: 3 requests waiting for the
database"), so a 20 s outage no longer writes a traceback per request.

With DEBUG on, Django shows its technical 500 page instead, as for any error.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.translation import gettext as _
from django.views import defaults

from campaign.api import request_language
from worker.retry import DATABASE_LOST

# A restart is over in seconds; browsers and API clients may come back after this.
RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 when the exception being handled is a lost database."""
    if isinstance(sys.exc_info()[1], DATABASE_LOST):
        return database_unavailable(request)
    return defaults.server_error(request)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """The answer while PostgreSQL is away, in the language LocaleMiddleware activated from
    the URL (it runs before anything reads the database), or for the API the one its
    Accept-Language asks for. A POST is told that what it sent
    was not saved: the form still holds it, and sending it again is safe (sign-up and the
    API's sign-up take a repeat as the same request)."""
    response: HttpResponse
    if request.path_info.startswith("/api/"):
        language = request_language(request)  # the API's own rule: Accept-Language
        with translation.override(language):
            message = _("Temporarily unavailable: nothing was saved. Please try again in a minute.")
        response = JsonResponse({"errors": {"__all__": [message]}}, status=503)
        response["Content-Language"] = language
    else:
        context = {"sent": request.method == "POST"}
        # No request in the context: no context processor runs, so nothing reads the database.
        response = HttpResponse(loader.render_to_string("503.html", context), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
