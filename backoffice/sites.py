"""The staff back office: django-unfold's admin, behind a password and a second factor.

Every admin page needs a verified OTP device (OTPAdminSite.has_permission). A staff member
without any device is sent to the enrolment page and reaches nothing else until they have
confirmed a first TOTP code or registered a passkey; they then see their recovery codes once.
A passkey is a second factor only: the password comes first (login), the passkey next
(login_passkey, through django-otp-webauthn's JSON views). The Security page lists a person's
devices, adds passkeys, removes devices and makes new recovery codes.
"""

from __future__ import annotations

import base64
from base64 import b32encode
from collections.abc import Callable
from functools import update_wrapper
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp import login as otp_login
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.sites import UnfoldAdminSite

from backoffice import ratelimits
from backoffice.forms import (
    EnrolForm,
    SecondFactorCodeForm,
    StaffLoginForm,
    verify_second_factor,
)
from backoffice.passkeys import (
    DeviceRemovalRefused,
    has_passkey,
    sign_in_device_remove,
    sign_in_devices,
)

RECOVERY_CODES_SESSION_KEY = "backoffice_recovery_codes"
RECOVERY_CODE_COUNT = 10
ENROLMENT_DEVICE_NAME = "Authenticator app"


def needs_enrolment(user: Any) -> bool:
    """An active staff member who has no confirmed second-factor device yet."""
    return bool(
        user.is_authenticated and user.is_active and user.is_staff and not user_has_device(user)
    )


def awaits_passkey(request: HttpRequest) -> bool:
    """Logged in with the password, not verified yet, and a passkey to verify with."""
    user = request.user
    return bool(
        user.is_authenticated and DEVICE_ID_SESSION_KEY not in request.session and has_passkey(user)
    )


def qr_data_uri(text: str) -> str:
    """The QR code as an SVG data: URI (drawn here, no script; img-src allows data:)."""
    # Imported here: qrcode pulls in Pillow (~10 MB) that no other page or process needs.
    import qrcode
    import qrcode.image.svg

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
            path(
                "login/passkey/",
                never_cache(csrf_protect(self.login_passkey)),
                name="login_passkey",
            ),
            path("enrol/passkey/", self.admin_view(self.enrol_passkey), name="enrol_passkey"),
            path("security/", self.admin_view(self.security), name="security"),
        ]
        # Finance pages of our own (exports, payouts), before the admin's catch-all URL.
        # Imported here: they use models, not yet loaded when the admin site is created.
        from backoffice.export_views import FinanceExportViews
        from backoffice.payout_views import PayoutViews

        finance = FinanceExportViews(self).urls() + PayoutViews(self).urls()
        return enrolment + finance + super().get_urls()

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

    def safe_next(self, request: HttpRequest, url: str | None) -> str:
        if url and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return url
        return reverse("admin:index", current_app=self.name)

    def passkey_step(self, request: HttpRequest, next_url: str | None) -> HttpResponse:
        step = reverse("admin:login_passkey", current_app=self.name)
        return HttpResponseRedirect(
            f"{step}?{urlencode({'next': self.safe_next(request, next_url)})}"
        )

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method == "GET" and needs_enrolment(request.user):
            return HttpResponseRedirect(reverse("admin:enrol", current_app=self.name))
        if request.method == "GET" and awaits_passkey(request):
            return self.passkey_step(request, request.GET.get("next"))
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
        elif awaits_passkey(request):
            # The password was right and the person chose their passkey (StaffLoginForm).
            return self.passkey_step(request, request.POST.get("next"))
        return response

    def login_passkey(self, request: HttpRequest) -> HttpResponse:
        """The second step after the password: the passkey, or a code if it is not at hand."""
        user = request.user
        next_url = self.safe_next(request, request.GET.get("next") or request.POST.get("next"))
        login_url = reverse("admin:login", current_app=self.name)
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect_to_login(next_url, login_url)
        if self.has_permission(request):  # verified already
            return HttpResponseRedirect(next_url)
        if not has_passkey(user):
            return redirect_to_login(next_url, login_url)
        form = SecondFactorCodeForm(request.POST or None)
        if request.method == "POST":
            username = user.get_username()
            if ratelimits.login_blocked(request, username):
                context = {**self.each_context(request), "title": _("Too many attempts")}
                return TemplateResponse(
                    request, "backoffice/login_blocked.html", context, status=429
                )
            if form.is_valid():
                # As at login: the throttle's count is committed even when the code is wrong.
                with transaction.atomic():
                    device, error = verify_second_factor(user, form.cleaned_data["otp_token"])
                if device is not None:
                    otp_login(request, device)
                    return HttpResponseRedirect(next_url)
                form.add_error("otp_token", error)
            ratelimits.login_failed(request, username)
        context = {
            **self.each_context(request),
            "title": _("Confirm with your passkey"),
            "form": form,
            "next": next_url,
        }
        return TemplateResponse(request, "backoffice/login_passkey.html", context)

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
            "passkey_done_url": reverse("admin:enrol_passkey", current_app=self.name),
        }
        return TemplateResponse(request, "backoffice/enrol.html", context)

    def enrol_passkey(self, request: HttpRequest) -> HttpResponse:
        """After the enrolment page registered a first passkey (which verified the session):
        the recovery codes, as after confirming an authenticator app."""
        index = HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        if request.method != "POST" or not has_passkey(request.user):
            return index
        with transaction.atomic():
            # The enrolment page's half-set-up authenticator app is not wanted any more.
            TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
            if StaticDevice.objects.filter(user=request.user).exists():
                return index  # they have had their codes already
            codes = issue_recovery_codes(request.user)
        request.session[RECOVERY_CODES_SESSION_KEY] = codes
        return HttpResponseRedirect(reverse("admin:recovery_codes", current_app=self.name))

    def security(self, request: HttpRequest) -> HttpResponse:
        """A person's own sign-in devices: list them, add a passkey, remove one, new codes."""
        user = request.user
        current_device_id = request.session.get(DEVICE_ID_SESSION_KEY)
        here = HttpResponseRedirect(reverse("admin:security", current_app=self.name))
        if request.method == "POST":
            action = request.POST.get("action")
            if action == "remove":
                try:
                    sign_in_device_remove(
                        user=user,
                        persistent_id=str(request.POST.get("device", "")),
                        current_device_id=current_device_id,
                    )
                except DeviceRemovalRefused as refused:
                    messages.error(request, str(refused))
                else:
                    messages.success(request, _("The device is removed."))
            elif action == "recovery_codes":
                with transaction.atomic():
                    codes = issue_recovery_codes(user)
                request.session[RECOVERY_CODES_SESSION_KEY] = codes
                return HttpResponseRedirect(reverse("admin:recovery_codes", current_app=self.name))
            elif action == "passkey_added" and has_passkey(user):
                messages.success(request, _("Your new passkey is ready."))
            return here
        context = {
            **self.each_context(request),
            "title": _("Security"),
            "devices": sign_in_devices(user, current_device_id=current_device_id),
            "recovery_codes_left": StaticToken.objects.filter(device__user=user).count(),
            "passkey_done_url": reverse("admin:security", current_app=self.name),
        }
        return TemplateResponse(request, "backoffice/security.html", context)

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
