"""Authenticator apps and recovery codes in the back office, without their secrets.

django-otp's own admins show a TOTP device's key, its otpauth:// QR code and every recovery
code to anyone who may view the model: the Admin role could copy any staff member's second
factor. A secret is shown only to its owner, once, during enrolment (backoffice/sites.py);
here an Admin sees who has which device and removes a lost one, nothing more.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin

# Registered by django-otp (its admin modules load first: backoffice is the last app).
for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class SecretFreeDeviceAdmin(ModelAdmin):
    """Who, what and when; no key, no QR code, no codes. Devices are made by their owners
    (an app or codes at enrolment, a passkey by the owner's browser)."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed", "created_at"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An Admin who chose a device's key would hold that person's second factor.
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # One's own devices go through the Security page, which refuses removing the device in
        # use or the last one; here an Admin removes other people's.
        own = obj is not None and getattr(obj, "user_id", None) == request.user.pk
        return super().has_delete_permission(request, obj) and not own


@admin.register(TOTPDevice)
class AuthenticatorAppAdmin(SecretFreeDeviceAdmin):
    pass


@admin.register(StaticDevice)
class RecoveryCodesAdmin(SecretFreeDeviceAdmin):
    pass
