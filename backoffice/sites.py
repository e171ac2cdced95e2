"""The staff back office: django-unfold's admin, behind a password and a second factor.

Every admin page needs a verified OTP device (OTPAdminSite.has_permission). A staff member
without any device is sent to the enrolment page and reaches nothing else until they have
confirmed a first TOTP code; they then see their recovery codes once.
"""

from __future__ import annotations

import base64
from base64 import b32encode
from collections.abc import Callable
from functools import update_wrapper
from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.sites import UnfoldAdminSite

from backoffice import ratelimits
from backoffice.forms import EnrolForm, StaffLoginForm

RECOVERY_CODES_SESSION_KEY = "backoffice_recovery_codes"
RECOVERY_CODE_COUNT = 10
ENROLMENT_DEVICE_NAME = "Authenticator app"


def needs_enrolment(user: Any) -> bool:
    """An active staff member who has no confirmed second-factor device yet."""
    return bool(
        user.is_authenticated and user.is_active and user.is_staff and not user_has_device(user)
    )


def qr_data_uri(text: str) -> str:
    """The QR code as an SVG data: URI (drawn here, no script; img-src allows data:)."""
    svg = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def issue_recovery_codes(user: Any) -> list[str]:
    """Replace the user's recovery codes with fresh single-use ones and return them."""
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name="Recovery codes", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


class StaffAdminSite(OTPAdminSite, UnfoldAdminSite):
    site_header = _("Save the Survivors")
    site_title = _("Save the Survivors back office")
    index_title = _("Back office")
    login_form = StaffLoginForm
    login_template = "backoffice/login.html"
    index_template = "backoffice/index.html"

    def __init__(self, name: str = "admin") -> None:
        # "admin", not OTPAdminSite's "otpadmin": every reverse("admin:...") keeps working.
        super().__init__(name)

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Any:
        guarded = super().admin_view(view, cacheable)

        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not self.has_permission(request) and needs_enrolment(request.user):
                if request.path == reverse("admin:logout", current_app=self.name):
                    return view(request, *args, **kwargs)  # leaving is always allowed
                return HttpResponseRedirect(reverse("admin:enrol", current_app=self.name))
            return guarded(request, *args, **kwargs)

        return update_wrapper(never_cache(inner), view)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        # Outside admin_view: these pages are for staff who are not verified yet.
        enrolment = [
            path("enrol/", never_cache(csrf_protect(self.enrol)), name="enrol"),
            path(
                "enrol/recovery-codes/",
                self.admin_view(self.recovery_codes),
                name="recovery_codes",
            ),
        ]
        return enrolment + super().get_urls()

    def get_sidebar_list(self, request: HttpRequest) -> list[dict[str, Any]]:
        # Drop a heading whose pages this person may not open: Marketing sees no "Finance".
        return [
            group
            for group in super().get_sidebar_list(request)
            if any(item.get("has_permission") for item in group["items"])
        ]

    def dashboard_sections(self, request: HttpRequest) -> list[dict[str, Any]]:
        """The sidebar's groups (Stories, Mailings, ...) with only the pages this person may
        open: the dashboard is organised by what staff do, like the menu."""
        return [
            {**group, "items": [item for item in group["items"] if item.get("has_permission")]}
            for group in self.get_sidebar_list(request)
        ]

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        from backoffice.dashboard import campaign_charts  # models: not at import time

        context = {
            "dashboard_sections": self.dashboard_sections(request),
            **campaign_charts(with_euros=request.user.has_perm("donations.view_donation")),
            **(extra_context or {}),
        }
        return super().index(request, context)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method == "GET" and needs_enrolment(request.user):
            return HttpResponseRedirect(reverse("admin:enrol", current_app=self.name))
        if request.method != "POST":
            return super().login(request, extra_context)
        username = str(request.POST.get("username", ""))
        if ratelimits.login_blocked(request, username):
            context = {**self.each_context(request), "title": _("Too many attempts")}
            return TemplateResponse(request, "backoffice/login_blocked.html", context, status=429)
        response = super().login(request, extra_context)
        # A successful login redirects; anything else re-shows the form with an error.
        if response.status_code != 302:
            ratelimits.login_failed(request, username)
        return response

    def enrol(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect_to_login(
                request.get_full_path(), reverse("admin:login", current_app=self.name)
            )
        if user_has_device(user):
            # Enrolled already: a verified session goes on, others log in with the device.
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        # One pending device per person, so reloading the page keeps the same QR code.
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(
                user=user, name=ENROLMENT_DEVICE_NAME, confirmed=False
            )
        form = EnrolForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                # django-otp's throttle: each wrong code doubles the wait before the next try.
                allowed = device.verify_is_allowed()[0]
                confirmed = allowed and device.verify_token(form.cleaned_data["token"])
                if confirmed:
                    device.confirmed = True
                    device.save(update_fields=["confirmed"])
                    codes = issue_recovery_codes(user)
            if confirmed:
                otp_login(request, device)
                # Shown once, on the next page, which removes them from the session.
                request.session[RECOVERY_CODES_SESSION_KEY] = codes
                return HttpResponseRedirect(reverse("admin:recovery_codes", current_app=self.name))
            form.add_error(
                "token",
                _("That code is not right. Check the time on your phone and try again.")
                if allowed
                else _("Too many wrong codes: wait a little and try again."),
            )
        secret = b32encode(device.bin_key).decode()
        context = {
            **self.each_context(request),
            "title": _("Set up your second factor"),
            "form": form,
            "otpauth_uri": device.config_url,
            "qr_code": qr_data_uri(device.config_url),
            "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
        }
        return TemplateResponse(request, "backoffice/enrol.html", context)

    def recovery_codes(self, request: HttpRequest) -> HttpResponse:
        codes = request.session.pop(RECOVERY_CODES_SESSION_KEY, None)
        if not codes:
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {
            **self.each_context(request),
            "title": _("Your recovery codes"),
            "codes": codes,
        }
        return TemplateResponse(request, "backoffice/recovery_codes.html", context)
