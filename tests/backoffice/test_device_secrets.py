"""No staff member can read another's second factor: the Admin role sees who has which
authenticator app or recovery codes, never a key, a QR code or a code."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any

import pytest
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.roles import ADMIN
from tests.backoffice.conftest import admin_url
from tests.staff import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def colleague(make_staff: Callable[..., Any]) -> tuple[TOTPDevice, StaticDevice, str]:
    person = make_staff(ADMIN)
    app = TOTPDevice.objects.get(user=person)
    codes = StaticDevice.objects.create(user=person, name="recovery", confirmed=True)
    StaticToken.objects.create(device=codes, token="k7q2m9x4")
    return app, codes, "k7q2m9x4"


def secrets_in(page: str, app: TOTPDevice, code: str) -> list[str]:
    """The key in hex and in base32 (inside the otpauth:// URI), and the recovery code."""
    b32 = base64.b32encode(app.bin_key).decode().rstrip("=")
    return [secret for secret in (app.key, b32, code) if secret in html.unescape(page)]


def test_an_admin_sees_the_devices_but_no_secret(
    make_staff: Callable[..., Any], colleague: tuple[TOTPDevice, StaticDevice, str]
) -> None:
    app, codes, code = colleague
    admin = verified_client(make_staff(ADMIN))

    pages = {
        "apps": admin.get(admin_url("otp_totp/totpdevice/")),
        "app": admin.get(admin_url(f"otp_totp/totpdevice/{app.pk}/change/")),
        "codes": admin.get(admin_url("otp_static/staticdevice/")),
        "codes page": admin.get(admin_url(f"otp_static/staticdevice/{codes.pk}/change/")),
    }

    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    for page in pages.values():
        text = page.content.decode()
        assert secrets_in(text, app, code) == []
        assert "qrcode" not in text.lower()
    assert app.user.username in pages["apps"].content.decode()


@pytest.mark.parametrize("tail", ["config/", "qrcode/"])
def test_the_qr_code_pages_are_gone(
    make_staff: Callable[..., Any], colleague: tuple[TOTPDevice, StaticDevice, str], tail: str
) -> None:
    app, _, code = colleague
    admin = verified_client(make_staff(ADMIN))

    response = admin.get(admin_url(f"otp_totp/totpdevice/{app.pk}/{tail}"), follow=True)

    assert secrets_in(response.content.decode(), app, code) == []
    assert response.get("Content-Type", "").startswith("text/html")


def test_no_one_adds_or_edits_a_device_for_someone_else(
    make_staff: Callable[..., Any], colleague: tuple[TOTPDevice, StaticDevice, str]
) -> None:
    app, _, _ = colleague
    admin = verified_client(make_staff(ADMIN))
    key_of_my_choosing = "3132333435363738393031323334353637383930"

    added = admin.post(
        admin_url("otp_totp/totpdevice/add/"),
        {"user": app.user_id, "name": "mine", "key": key_of_my_choosing, "confirmed": "on"},
    )
    edited = admin.post(
        admin_url(f"otp_totp/totpdevice/{app.pk}/change/"),
        {"user": app.user_id, "name": "phone", "key": key_of_my_choosing, "confirmed": "on"},
    )

    assert added.status_code == 403
    assert edited.status_code in {302, 403}  # a read-only page saves nothing
    app.refresh_from_db()
    assert app.key != key_of_my_choosing
    assert not TOTPDevice.objects.filter(key=key_of_my_choosing).exists()


def test_an_admin_removes_a_colleagues_lost_device(
    make_staff: Callable[..., Any], colleague: tuple[TOTPDevice, StaticDevice, str]
) -> None:
    app, _, _ = colleague
    admin = verified_client(make_staff(ADMIN))

    response = admin.post(admin_url(f"otp_totp/totpdevice/{app.pk}/delete/"), {"post": "yes"})

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=app.pk).exists()
