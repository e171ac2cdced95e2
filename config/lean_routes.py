"""The WSGI handler: Stripe's webhook goes past the middleware it has no use for.

The webhook is a signed server-to-server POST: no cookie, session, user, language, form, page
or static file. The middleware for those (whitenoise, sessions, locale, CSRF, auth, OTP, the
audit actor, messages, frame and content-security policies) cost it about a third of its CPU
in a storm of deliveries (bench/webhook_storm.py), the moment the worker booking them needs
that CPU most. It keeps the request id (its log lines), the security middleware (HTTPS
redirect, HSTS and the other security headers), the host check, Django's request signals
(database connections' age and health) and its error handling: everything a response to
Stripe can show or need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse, set_urlconf
from django.utils.log import log_response
from django.utils.module_loading import import_string

# URL name -> view served past the rest of the middleware.
LEAN_ROUTES = {"stripe-webhook": "donations.webhook.stripe_webhook"}
LEAN_MIDDLEWARE = (
    "config.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
)

Handler = Callable[[HttpRequest], HttpResponseBase]


def _host_checked(view: Handler) -> Handler:
    def checked(request: HttpRequest) -> HttpResponseBase:
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it for every other view
        return view(request)

    return checked


def lean_chain(view: Handler) -> Handler:
    """The view behind LEAN_MIDDLEWARE only, built as Django builds the full chain."""
    handler = convert_exception_to_response(_host_checked(view))
    for path in reversed(LEAN_MIDDLEWARE):
        handler = convert_exception_to_response(import_string(path)(handler))
    return cast(Handler, handler)  # sync throughout: the middleware and the view are


class LeanRoutesHandler(WSGIHandler):
    """Django's WSGI handler, with LEAN_ROUTES' paths answered through lean_chain."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lean: dict[str, Handler] | None = None

    def _lean_routes(self) -> dict[str, Handler]:
        # Built at the first request: the URLconf may import views that need the apps ready.
        if self._lean is None:
            self._lean = {
                reverse(name): lean_chain(import_string(view)) for name, view in LEAN_ROUTES.items()
            }
        return self._lean

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        lean = self._lean_routes().get(request.path_info)
        if lean is None:
            return super().get_response(request)
        # What BaseHandler.get_response does around its chain.
        set_urlconf(settings.ROOT_URLCONF)
        response = lean(request)
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]
        if response.status_code >= 400:
            log_response(
                "%s: %s",
                response.reason_phrase,
                request.path,
                response=cast(HttpResponse, response),
                request=request,
            )
        return response
