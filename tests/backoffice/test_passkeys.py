"""Passkeys as a second factor after the password (django-otp-webauthn).

The browser tests run the real ceremonies in headless Chromium against a virtual authenticator
(Chrome DevTools Protocol's WebAuthn domain) on http://localhost:<port>: WebAuthn needs a secure
context and a domain as relying party ID, never an IP address. The others check, over plain
HTTP, what the pages and the library's endpoints allow a half-logged-in session.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import CDPSession, Page, expect

from backoffice.roles import ADMIN, MARKETING
from tests.backoffice.conftest import PASSWORD, admin_url, code_for, verified_client
from tests.backoffice.test_browser import csp_violations


def webauthn_url(tail: str) -> str:
    return admin_url(f"passkeys/{tail}")


def add_passkey_row(user: Any) -> Any:
    """A registered passkey as the database holds it. Its key is never used to sign here:
    these tests only need the account to have one (the browser tests make real ones)."""
    return WebAuthnCredential.objects.create(
        user=user,
        name="",
        credential_id=os.urandom(32),
        public_key=os.urandom(77),
        aaguid="00000000-0000-0000-0000-000000000000",
    )


def log_in(client: Client, username: str, **extra: str) -> Any:
    return client.post(
        admin_url("login/"),
        {"username": username, "password": PASSWORD, "otp_token": "", "next": admin_url(), **extra},
    )


def passkey_step(next_url: str = "") -> str:
    return f"{admin_url('login/passkey/')}?{urlencode({'next': next_url or admin_url()})}"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- Over HTTP: what a password alone opens for someone with a passkey ----------------------


@pytest.mark.django_db
def test_a_passkey_counts_as_a_device_so_its_owner_is_never_sent_to_enrolment(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(MARKETING, device=False)
    add_passkey_row(user)
    client = Client()

    answer = log_in(client, user.username)
    step = client.get(answer["Location"])

    assert user_has_device(user)
    assert answer.status_code == 302
    assert answer["Location"] == passkey_step()
    assert step.status_code == 200
    assert 'id="passkey-verification-placeholder"' in step.content.decode()
    # Not verified yet: every staff page, and enrolment, sends them back to log in.
    for tail in ("", "campaign/story/", "security/", "enrol/"):
        landed = client.get(admin_url(tail))
        assert landed.status_code == 302, tail
        assert not landed["Location"].startswith(admin_url("enrol/")), tail
    # The login page itself takes them straight on to the passkey step.
    assert client.get(admin_url("login/"))["Location"].startswith(admin_url("login/passkey/"))


@pytest.mark.django_db
def test_use_a_passkey_without_one_asks_for_the_code_instead(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(MARKETING)
    client = Client()

    answer = log_in(client, user.username, use_passkey="1")

    assert answer.status_code == 200
    assert "no passkey yet" in answer.content.decode() or "geen passkey" in answer.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_wrong_password_never_reaches_the_passkey_step(make_staff: Callable[..., Any]) -> None:
    user = make_staff(MARKETING, device=False)
    add_passkey_row(user)
    client = Client()

    answer = client.post(
        admin_url("login/"), {"username": user.username, "password": "wrong", "use_passkey": "1"}
    )

    assert answer.status_code == 200
    assert client.get(admin_url("login/passkey/"))["Location"].startswith(admin_url("login/"))


@pytest.mark.django_db
def test_another_persons_passkey_or_a_forged_answer_verifies_nothing(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(MARKETING, device=False)
    add_passkey_row(user)
    someone_else = add_passkey_row(make_staff(MARKETING, device=False))
    client = Client()
    log_in(client, user.username, use_passkey="1")

    begun = client.post(webauthn_url("authentication/begin/"))
    options = begun.json()
    forged = {
        "id": b64url(bytes(someone_else.credential_id)),
        "rawId": b64url(bytes(someone_else.credential_id)),
        "type": "public-key",
        "response": {
            "clientDataJSON": b64url(b'{"type":"webauthn.get"}'),
            "authenticatorData": b64url(os.urandom(37)),
            "signature": b64url(os.urandom(64)),
        },
    }
    mismatch = client.post(
        webauthn_url("authentication/complete/"), forged, content_type="application/json"
    )
    client.post(webauthn_url("authentication/begin/"))
    garbage = client.post(
        webauthn_url("authentication/complete/"), {"id": "x"}, content_type="application/json"
    )

    assert begun.status_code == 200
    # Only this person's own passkeys are offered to the browser.
    assert [c["id"] for c in options["allowCredentials"]] == [
        b64url(bytes(user.webauthncredential_set.get().credential_id))
    ]
    assert (mismatch.status_code, mismatch.json()["code"]) == (403, "credential_user_mismatch")
    assert garbage.status_code in (400, 422)
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert client.get(admin_url()).status_code == 302


@pytest.mark.django_db
def test_nobody_logs_in_with_a_passkey_alone() -> None:
    # Passwordless login is off: without the password first, the ceremony does not even start.
    client = Client()

    begun = client.post(webauthn_url("authentication/begin/"))
    registering = client.post(webauthn_url("registration/begin/"))

    assert (begun.status_code, begun.json()["code"]) == (403, "passwordless_login_disabled")
    assert (registering.status_code, registering.json()["code"]) == (403, "not_authenticated")


@pytest.mark.django_db
def test_a_half_logged_in_session_cannot_register_a_passkey_of_its_own(
    make_staff: Callable[..., Any],
) -> None:
    # Password right, second factor not given: adding a passkey now would skip the factor.
    user = make_staff(MARKETING)
    add_passkey_row(user)
    client = Client()
    log_in(client, user.username, use_passkey="1")

    answer = client.post(webauthn_url("registration/begin/"))

    assert (answer.status_code, answer.json()["code"]) == (403, "user_not_verified")


@pytest.mark.django_db
def test_the_passkey_step_takes_a_code_instead_and_keeps_next_on_this_site(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(MARKETING)
    add_passkey_row(user)
    device = TOTPDevice.objects.get(user=user)
    client = Client()
    log_in(client, user.username, use_passkey="1")
    step = admin_url("login/passkey/")

    wrong = client.post(step, {"otp_token": "000000", "next": admin_url("campaign/story/")})
    device.refresh_from_db()
    device.throttle_reset()  # a wrong code makes the next try wait (django-otp)
    elsewhere = client.post(step, {"otp_token": code_for(device), "next": "https://evil.example/"})

    assert wrong.status_code == 200
    assert (elsewhere.status_code, elsewhere["Location"]) == (302, admin_url())
    assert client.get(admin_url()).status_code == 200


# --- Over HTTP: the Security page -------------------------------------------------------------


@pytest.mark.django_db
def test_the_security_page_lists_and_removes_devices_but_never_the_last_or_current_one(
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(MARKETING)
    app = TOTPDevice.objects.get(user=user)
    passkey = add_passkey_row(user)
    client = verified_client(user)  # verified with the app
    page = admin_url("security/")

    listed = client.get(page).content.decode()
    in_use = client.post(page, {"action": "remove", "device": app.persistent_id}, follow=True)
    removed = client.post(page, {"action": "remove", "device": passkey.persistent_id})
    # A second app makes the first removable, once the session runs on the second one.
    other = make_staff(MARKETING)
    foreign = client.post(
        page,
        {"action": "remove", "device": TOTPDevice.objects.get(user=other).persistent_id},
        follow=True,
    )

    assert f'data-device="{app.persistent_id}"' in listed
    assert f'data-device="{passkey.persistent_id}"' in listed
    assert in_use.status_code == 200
    assert TOTPDevice.objects.filter(pk=app.pk).exists()
    assert removed.status_code == 302
    assert not WebAuthnCredential.objects.filter(pk=passkey.pk).exists()
    assert TOTPDevice.objects.filter(user=other).exists()
    assert foreign.status_code == 200


@pytest.mark.django_db
def test_the_only_device_stays_even_when_the_session_runs_on_a_recovery_code(
    make_staff: Callable[..., Any],
) -> None:
    from backoffice.sites import issue_recovery_codes

    user = make_staff(MARKETING)
    app = TOTPDevice.objects.get(user=user)
    code = issue_recovery_codes(user)[0]
    client = Client()
    assert (
        client.post(
            admin_url("login/"),
            {"username": user.username, "password": PASSWORD, "otp_token": code},
        ).status_code
        == 302
    )

    client.post(admin_url("security/"), {"action": "remove", "device": app.persistent_id})

    assert TOTPDevice.objects.filter(pk=app.pk).exists()


@pytest.mark.django_db
def test_new_recovery_codes_replace_the_old_ones(
    make_staff: Callable[..., Any],
) -> None:
    from backoffice.sites import issue_recovery_codes

    user = make_staff(MARKETING)
    old = set(issue_recovery_codes(user))
    client = verified_client(user)

    answer = client.post(admin_url("security/"), {"action": "recovery_codes"})
    shown = client.get(answer["Location"]).content.decode()
    new = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))

    assert answer["Location"] == admin_url("enrol/recovery-codes/")
    assert len(new) == 10
    assert not (old & new)
    assert all(code in shown for code in new)


# --- In the browser: real passkeys on a virtual authenticator ---------------------------------


@pytest.fixture
def passkey_site(live_server: Any, settings: Any) -> str:
    """The live server, with django-otp-webauthn's relying party set to its origin."""
    assert live_server.url.startswith("http://localhost:"), live_server.url
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    # An absent passkey makes the browser wait this long before it gives up.
    settings.OTP_WEBAUTHN_TIMEOUT_SECONDS = 3
    return str(live_server.url)


class Authenticators:
    """Chrome's virtual authenticators for one page: a platform passkey (screen lock)."""

    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.current: str | None = None

    def plug_in(self) -> str:
        self.current = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                }
            },
        )["authenticatorId"]
        return self.current

    def unplug(self) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.current})
        self.current = None

    def credentials(self) -> list[dict[str, Any]]:
        return list(
            self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.current})[
                "credentials"
            ]
        )


@pytest.fixture
def authenticators(page: Page) -> Authenticators:
    return Authenticators(page)


def password_then_passkey(page: Page, site: str, username: str) -> None:
    page.goto(f"{site}{admin_url('login/')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-use-passkey")
    expect(page).to_have_url(f"{site}{passkey_step()}")


def log_out(page: Page, site: str) -> None:
    # The account menu's log-out form (unfold hides it in a dropdown until clicked).
    page.goto(f"{site}{admin_url()}")
    with page.expect_navigation():
        page.locator("#logout-form").evaluate("form => form.submit()")
    page.goto(f"{site}{admin_url()}")
    expect(page).to_have_url(f"{site}{admin_url('login/')}?next={admin_url()}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
@pytest.mark.slow
def test_a_new_staff_member_enrols_a_passkey_and_logs_in_with_password_and_passkey(
    page: Page,
    passkey_site: str,
    authenticators: Authenticators,
    make_staff: Callable[..., Any],
    artifacts_dir: Path,
) -> None:
    user = make_staff(MARKETING, device=False)
    authenticators.plug_in()
    violations = csp_violations(page)

    # Password only: a person without a device lands on enrolment and chooses a passkey.
    page.goto(f"{passkey_site}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit] >> nth=0")
    expect(page).to_have_url(f"{passkey_site}{admin_url('enrol/')}")
    page.locator("#passkey-register-button").click()

    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.screenshot(path=str(artifacts_dir / "backoffice-passkey-recovery-codes.png"))
    assert len(authenticators.credentials()) == 1
    passkey = WebAuthnCredential.objects.get(user=user)
    assert passkey.confirmed
    assert StaticDevice.objects.filter(user=user).exists()
    # The authenticator-app enrolment they did not finish leaves nothing behind.
    assert not TOTPDevice.objects.filter(user=user).exists()
    page.get_by_text("Ik heb ze bewaard").click()
    expect(page).to_have_url(f"{passkey_site}{admin_url()}")
    expect(page.locator("#dashboard")).to_be_visible()
    log_out(page, passkey_site)

    # Back again: the password, then the passkey; never the enrolment page.
    password_then_passkey(page, passkey_site, user.username)
    page.screenshot(path=str(artifacts_dir / "backoffice-passkey-step.png"))
    page.locator("#passkey-verification-button").click()

    expect(page).to_have_url(f"{passkey_site}{admin_url()}")
    expect(page.locator("#dashboard")).to_be_visible()
    passkey.refresh_from_db()
    assert passkey.last_used_at is not None
    # The account menu leads to the Security page, which lists the passkey as in use now.
    expect(page.locator(f'a[href="{admin_url("security/")}"]')).to_have_count(1)
    page.goto(f"{passkey_site}{admin_url('security/')}")
    row = page.locator(f'[data-device="{passkey.persistent_id}"]')
    expect(row).to_have_attribute("data-in-use", "true")
    page.screenshot(path=str(artifacts_dir / "backoffice-security.png"), full_page=True)
    assert violations == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
@pytest.mark.slow
def test_without_the_registered_passkey_the_password_alone_gets_nowhere(
    page: Page,
    passkey_site: str,
    authenticators: Authenticators,
    make_staff: Callable[..., Any],
) -> None:
    user = make_staff(MARKETING)  # has an authenticator app; adds a passkey on Security
    device = TOTPDevice.objects.get(user=user)
    authenticators.plug_in()
    violations = csp_violations(page)
    page.goto(f"{passkey_site}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(device))
    page.click("#login-form button[type=submit] >> nth=0")
    page.goto(f"{passkey_site}{admin_url('security/')}")
    page.locator("#passkey-register-button").click()
    expect(page.locator("#security-devices tbody tr")).to_have_count(2)
    log_out(page, passkey_site)

    # Another authenticator, which never saw this account's passkey.
    authenticators.unplug()
    authenticators.plug_in()
    password_then_passkey(page, passkey_site, user.username)
    page.locator("#passkey-verification-button").click()

    status = page.locator("#passkey-verification-status-message")
    expect(status).not_to_be_empty(timeout=15_000)
    expect(page.locator("#passkey-verification-button")).to_be_enabled()
    page.goto(f"{passkey_site}{admin_url('campaign/story/')}")
    expect(page).to_have_url(f"{passkey_site}{passkey_step(admin_url('campaign/story/'))}")
    assert WebAuthnCredential.objects.get(user=user).last_used_at is None
    assert violations == []


@pytest.mark.django_db
def test_an_admin_removes_someones_lost_passkey_and_others_cannot(
    make_staff: Callable[..., Any],
) -> None:
    owner = make_staff(MARKETING)
    lost = WebAuthnCredential.objects.create(
        user=owner, name="Passkey", confirmed=True, credential_id=b"lost", public_key=b"key"
    )
    page = admin_url(f"django_otp_webauthn/webauthncredential/{lost.pk}/delete/")
    marketing = verified_client(make_staff(MARKETING))
    assert marketing.post(page, {"post": "yes"}).status_code == 403
    admin = verified_client(make_staff(ADMIN))
    listing = admin.get(admin_url("django_otp_webauthn/webauthncredential/"))
    assert owner.username in listing.content.decode()
    assert admin.post(page, {"post": "yes"}).status_code == 302
    assert not WebAuthnCredential.objects.filter(pk=lost.pk).exists()
