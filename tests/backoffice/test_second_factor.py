"""Every staff page needs a second factor; without a device, only enrolment is reachable."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.roles import ADMIN, MARKETING
from tests.backoffice.conftest import PASSWORD, admin_url, code_for, verified_client

pytestmark = pytest.mark.django_db

# Pages across every area: none may open before enrolment.
EVERY_AREA = [
    "",
    "campaign/story/",
    "campaign/supporter/",
    "mailing/mailing/add/",
    "mailing/sequence/",
    "donations/donation/",
    "donations/transaction/",
    "auth/user/",
    "otp_totp/totpdevice/",
    "password_change/",
    "enrol/recovery-codes/",
    "jsi18n/",
]


def log_in(client: Client, username: str, code: str = "") -> Any:
    return client.post(
        admin_url("login/"),
        {"username": username, "password": PASSWORD, "otp_token": code, "next": admin_url()},
    )


def test_a_staff_user_without_a_device_reaches_nothing_but_enrolment(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(ADMIN, device=False)
    client = Client()

    landed = log_in(client, user.username)
    answers = {tail: client.get(admin_url(tail)) for tail in EVERY_AREA}

    assert landed.status_code == 302
    enrol = admin_url("enrol/")
    assert {tail: (r.status_code, r["Location"]) for tail, r in answers.items()} == dict.fromkeys(
        EVERY_AREA, (302, enrol)
    )
    # Nothing changes by POST either.
    posted = client.post(admin_url("auth/user/add/"), {"username": "sneaky"})
    assert (posted.status_code, posted["Location"]) == (302, enrol)


def test_enrolment_shows_a_qr_code_and_confirms_with_a_real_code(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(MARKETING, device=False)
    client = Client()
    client.force_login(user)

    page = client.get(admin_url("enrol/"))
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)

    assert page.status_code == 200
    assert 'src="data:image/svg+xml;base64,' in html
    assert "otpauth://totp/Save%20the%20Survivors%3A" in html
    # No inline script (CSP); a JSON data block (passkey settings) is never executed.
    assert re.search(r'<script(?![^>]*\b(src=|type="application/json"))', html) is None
    # Reloading keeps the same key (the person may be half-way through scanning).
    client.get(admin_url("enrol/"))
    assert TOTPDevice.objects.filter(user=user).count() == 1

    wrong = client.post(admin_url("enrol/"), {"token": "000000"})
    assert wrong.status_code == 200
    assert client.get(admin_url()).status_code == 302
    device.refresh_from_db()
    device.throttle_reset()  # a wrong code makes the next try wait a second (django-otp)

    done = client.post(admin_url("enrol/"), {"token": code_for(device)})
    assert (done.status_code, done["Location"]) == (302, admin_url("enrol/recovery-codes/"))
    codes_page = client.get(done["Location"]).content.decode()
    codes = re.findall(r"<li>([a-z0-9]+)</li>", codes_page)
    assert len(codes) == 10
    assert set(codes) == set(
        StaticToken.objects.filter(device__user=user).values_list("token", flat=True)
    )
    # Shown once: the next visit goes to the dashboard.
    assert client.get(admin_url("enrol/recovery-codes/")).status_code == 302
    assert client.get(admin_url()).status_code == 200
    device.refresh_from_db()
    assert device.confirmed


def test_login_asks_for_the_code_of_an_enrolled_device(make_staff: Callable[..., Any]) -> None:
    user = make_staff(MARKETING)
    device = TOTPDevice.objects.get(user=user)

    for code in ("", "123456", "not-a-code"):
        client = Client()
        answer = log_in(client, user.username, code)
        assert answer.status_code == 200, code
        assert client.get(admin_url()).status_code == 302

    device.refresh_from_db()
    device.throttle_reset()  # each wrong code makes the next try wait longer (django-otp)
    client = Client()
    answer = log_in(client, user.username, code_for(device))
    assert (answer.status_code, answer["Location"]) == (302, admin_url())
    assert client.get(admin_url()).status_code == 200
    # The same code cannot be replayed.
    assert log_in(Client(), user.username, code_for(device)).status_code == 200


def test_a_recovery_code_logs_in_once(make_staff: Callable[..., Any]) -> None:
    from backoffice.sites import issue_recovery_codes

    user = make_staff(MARKETING)
    code = issue_recovery_codes(user)[0]

    first = log_in(Client(), user.username, code)
    again = log_in(Client(), user.username, code)

    assert first.status_code == 302
    assert again.status_code == 200


def test_a_password_alone_never_opens_a_page_for_an_enrolled_user(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(ADMIN)
    client = Client()
    client.force_login(user)  # first factor only

    answer = client.get(admin_url("donations/donation/"))

    assert answer.status_code == 302
    assert answer["Location"].startswith(admin_url("login/"))
    # And the enrolment page does not hand out a second device.
    assert client.get(admin_url("enrol/"))["Location"] == admin_url()
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_failed_logins_are_rate_limited_per_username(
    make_staff: Callable[..., Any], settings: Any
) -> None:
    settings.BACKOFFICE_RATE_LOGIN_USER = "3/15m"
    user = make_staff(MARKETING)
    device = TOTPDevice.objects.get(user=user)

    wrong = [log_in(Client(), user.username, "999999").status_code for _ in range(3)]
    blocked = log_in(Client(), user.username, code_for(device))

    assert wrong == [200, 200, 200]
    assert blocked.status_code == 429
    # Another account from the same address is not blocked by this one's failures.
    other = make_staff(MARKETING)
    other_code = f"{totp(TOTPDevice.objects.get(user=other).bin_key):06d}"
    assert log_in(Client(), other.username, other_code).status_code == 302


def test_sessions_expire_after_inactivity(settings: Any) -> None:
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert 60 <= settings.SESSION_COOKIE_AGE <= 60 * 60


def test_staff_pages_relax_the_csp_for_the_theme_only(make_staff: Callable[..., Any]) -> None:
    client = verified_client(make_staff(MARKETING))

    staff = client.get(admin_url())["Content-Security-Policy"]
    public = client.get("/healthz").get("Content-Security-Policy", "")

    assert "'unsafe-eval'" in staff
    assert "'unsafe-inline'" not in staff.split("script-src", 1)[1].split(";", 1)[0]
    assert "'unsafe-eval'" not in public
