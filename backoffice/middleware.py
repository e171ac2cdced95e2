"""The staff pages' own middleware: a Content-Security-Policy the admin theme can live with,
and the language staff chose."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


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


class StaffLanguageMiddleware:
    """Staff pages in the language of the language cookie (Dutch without one).

    The public site's URLs carry their language (/en/...), and LocaleMiddleware, seeing
    i18n_patterns without a prefix for Dutch, gives every unprefixed path Dutch: the back
    office could never be English. Its URLs have no language, so the cookie decides there;
    not the browser's Accept-Language, since a Dutch charity's staff read Dutch unless they
    choose otherwise. Placed right after LocaleMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix = "/" + settings.ADMIN_PATH
        self.languages = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(self.prefix):
            chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
            language = chosen if chosen in self.languages else settings.LANGUAGE_CODE
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
