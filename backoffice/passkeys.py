"""Passkeys (django-otp-webauthn) beside authenticator apps: a staff member's sign-in devices.

The WebAuthn ceremonies themselves are the library's JSON views (config/urls.py); this module
holds what the back office's own pages ask and change: does this person have a passkey, which
devices do they sign in with, and removing one of them without locking themselves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential


def has_passkey(user: Any) -> bool:
    return bool(WebAuthnCredential.objects.filter(user=user, confirmed=True).exists())


@dataclass(frozen=True)
class SignInDevice:
    """One authenticator app or passkey, as the Security page lists it."""

    persistent_id: str
    kind: str
    name: str
    added: datetime | None
    last_used: datetime | None
    in_use: bool


def _sign_in_device_rows(user: Any) -> list[Device]:
    # Recovery codes (StaticDevice) are not a device a person picks up: listed apart.
    apps = list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"))
    passkeys = list(WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("pk"))
    return [*apps, *passkeys]


def sign_in_devices(user: Any, *, current_device_id: str | None) -> list[SignInDevice]:
    """The person's authenticator apps and passkeys; `in_use` marks this session's device."""
    return [
        SignInDevice(
            persistent_id=device.persistent_id,
            kind=_("Passkey") if isinstance(device, WebAuthnCredential) else _("Authenticator app"),
            name=device.name,
            added=device.created_at,
            last_used=device.last_used_at,
            in_use=device.persistent_id == current_device_id,
        )
        for device in _sign_in_device_rows(user)
    ]


class DeviceRemovalRefused(Exception):
    """The removal would lock the person out or pull the ground from under this session."""


@transaction.atomic
def sign_in_device_remove(*, user: Any, persistent_id: str, current_device_id: str | None) -> None:
    """Remove one of `user`'s authenticator apps or passkeys.

    The device this session was verified with stays (removing it would end the session half
    way), and so does the last one: recovery codes alone are for emergencies, not daily use.
    """
    # Lock the person's devices: two removals in parallel cannot both see "one more left".
    rows = {
        device.persistent_id: device
        for queryset in (
            TOTPDevice.objects.filter(user=user, confirmed=True),
            WebAuthnCredential.objects.filter(user=user, confirmed=True),
        )
        for device in queryset.select_for_update()
    }
    device = rows.get(persistent_id)
    if device is None:
        raise DeviceRemovalRefused(_("That device is not one of yours, or it is already gone."))
    if persistent_id == current_device_id:
        raise DeviceRemovalRefused(
            _("You are logged in with this device now: log in with another one to remove it.")
        )
    if len(rows) == 1:
        raise DeviceRemovalRefused(
            _("This is your only authenticator app or passkey: add another one first.")
        )
    device.delete()
