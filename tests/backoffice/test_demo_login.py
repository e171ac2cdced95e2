"""The demo superuser of `make run` can still log in: seed_demo prints its second factor."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.oath import totp

from tests.backoffice.conftest import admin_url

pytestmark = pytest.mark.django_db


def seed(settings: Any, folder: Path) -> str:
    settings.BASE_DIR = folder  # the password file goes to this test's folder, not the repo's
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_demo_admin_logs_in_with_the_printed_password_and_authenticator_uri(
    settings: Any, tmp_path: Path
) -> None:
    first = seed(settings, tmp_path)
    second = seed(settings, tmp_path)
    password = re.search(r"Staff login: demo-admin / (\S+)", first)
    uri = re.search(r"Staff second factor \(TOTP\): (otpauth://totp/\S+)", first)
    assert password is not None
    assert uri is not None
    # Re-running keeps the device: an authenticator app set up once keeps working.
    assert uri.group(1) in second

    secret = parse_qs(urlsplit(uri.group(1)).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    client = Client()
    answer = client.post(
        admin_url("login/"),
        {
            "username": "demo-admin",
            "password": password.group(1),
            "otp_token": f"{totp(key):06d}",
            "next": admin_url(),
        },
    )

    assert (answer.status_code, answer["Location"]) == (302, admin_url())
    assert client.get(admin_url("donations/donation/")).status_code == 200


@pytest.mark.parametrize(
    ("label", "username", "allowed", "refused"),
    [
        ("Marketing", "demo-marketing", "mailing/mailing/", "donations/donation/"),
        ("Finance", "demo-finance", "donations/transaction/", "mailing/mailing/"),
    ],
)
def test_the_demo_role_accounts_log_in_and_see_only_their_part(
    settings: Any, tmp_path: Path, label: str, username: str, allowed: str, refused: str
) -> None:
    first = seed(settings, tmp_path)
    password = re.search(rf"{label} login: {username} / (\S+)", first)
    uri = re.search(rf"{label} second factor \(TOTP\): (otpauth://totp/\S+)", first)
    assert password is not None
    assert uri is not None
    assert f"{label} login: {username} / {password.group(1)}" in seed(settings, tmp_path)

    secret = parse_qs(urlsplit(uri.group(1)).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    client = Client()
    answer = client.post(
        admin_url("login/"),
        {
            "username": username,
            "password": password.group(1),
            "otp_token": f"{totp(key):06d}",
            "next": admin_url(),
        },
    )

    assert (answer.status_code, answer["Location"]) == (302, admin_url())
    assert client.get(admin_url(allowed)).status_code == 200
    assert client.get(admin_url(refused)).status_code == 403
