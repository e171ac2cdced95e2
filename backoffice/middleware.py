"""A Content-Security-Policy for the staff pages that the admin theme can live with."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class StaffCSPMiddleware:
    """Give responses under ADMIN_PATH the staff policy (settings.BACKOFFICE_CSP).

    django-unfold runs on Alpine.js, which evaluates its attribute expressions with Function()
    ('unsafe-eval'), and writes its theme colours in a <style> element and style attributes.
    Scripts still load only from our origin or with the request's nonce, so an injected
    <script> stays blocked; the public pages keep the strict policy. Placed after
    ContentSecurityPolicyMiddleware in MIDDLEWARE so its override is read on the way out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix = "/" + settings.ADMIN_PATH

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(self.prefix):
            response._csp_config = settings.BACKOFFICE_CSP  # type: ignore[attr-defined]
        return response
