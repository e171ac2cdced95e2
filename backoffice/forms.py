"""Staff login (password + a code, or password then a passkey) and the enrolment form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp import user_has_device
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.forms import AuthenticationForm
from unfold.widgets import BASE_INPUT_CLASSES

from backoffice.passkeys import has_passkey

_CODE_ATTRS = {
    "autocomplete": "one-time-code",
    "autocapitalize": "off",
    "spellcheck": "false",
    "class": " ".join(BASE_INPUT_CLASSES),
}


def normalise_code(raw: str) -> str:
    return "".join(raw.split()).replace("-", "")


def verify_second_factor(user: Any, code: str) -> tuple[Device | None, str]:
    """Check `code` against the user's confirmed devices; returns (device, error message).

    Six digits is an authenticator code (TOTP); anything else is tried as a recovery code.
    Choosing the device by the code's shape means a wrong guess counts against one device's
    throttle only, never against the recovery codes of someone typing a stale TOTP code.
    """
    code = normalise_code(code)
    if not code:
        return None, str(_("Enter the code from your authenticator app."))
    device_class: type[Device] = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    # Locked rows: two parallel guesses cannot both slip past the throttle.
    devices = device_class.objects.devices_for_user(user, confirmed=True).select_for_update()
    throttled = False
    for device in devices:
        allowed, _extra = device.verify_is_allowed()
        if not allowed:
            throttled = True
            continue
        if device.verify_token(code):
            return device, ""
    if throttled:
        return None, str(_("Too many wrong codes: wait a little and try again."))
    return None, str(_("That code is not right. Check the time on your phone and try again."))


class StaffLoginForm(AuthenticationForm):
    """Username, password and, for everyone who has a device, its code, in one step.

    A staff member without any device yet logs in with the password only; the site then lets
    them reach nothing but the enrolment page (StaffAdminSite.admin_view) until they have one.
    Someone with a passkey who asks for it ("Use a passkey", or no code typed) is logged in
    with the password only too, unverified: the site sends them to the passkey step next
    (StaffAdminSite.login_passkey), and no staff page opens until the passkey has answered.
    """

    otp_token = forms.CharField(
        label=_("Code from your authenticator app (or a recovery code)"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs=_CODE_ATTRS),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not user_has_device(user):
            return cleaned
        code = normalise_code(cleaned.get("otp_token") or "")
        asked_for_passkey = bool(self.data.get("use_passkey"))
        if (asked_for_passkey or not code) and has_passkey(user):
            return cleaned
        if asked_for_passkey:
            raise forms.ValidationError(
                _("This account has no passkey yet: enter the code from your authenticator app."),
                code="no_passkey",
            )
        # Verify in a transaction of its own and raise outside it: a failed attempt's throttle
        # increment must be committed, not rolled back with the error.
        with transaction.atomic():
            device, error = verify_second_factor(user, cleaned.get("otp_token") or "")
        if device is None:
            raise forms.ValidationError(error, code="invalid_otp")
        # django_otp's user_logged_in receiver stores this device in the session (verified).
        user.otp_device = device
        return cleaned


class SecondFactorCodeForm(forms.Form):
    """The passkey step's way out: a code from the app or a recovery code instead."""

    otp_token = forms.CharField(
        label=_("Code from your authenticator app (or a recovery code)"),
        max_length=32,
        widget=forms.TextInput(attrs=_CODE_ATTRS),
    )


class EnrolForm(forms.Form):
    token = forms.CharField(
        label=_("The 6-digit code your app shows now"),
        max_length=12,
        widget=forms.TextInput(attrs={**_CODE_ATTRS, "inputmode": "numeric", "autofocus": ""}),
    )

    def clean_token(self) -> str:
        token = normalise_code(self.cleaned_data["token"])
        if not (token.isdigit() and len(token) == 6):
            raise forms.ValidationError(_("Enter the six digits your app shows."))
        return token
