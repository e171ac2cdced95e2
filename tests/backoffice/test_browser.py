"""In headless Chromium: log in with password + a real TOTP code; enrol a first device."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from backoffice.roles import ADMIN, FINANCE, MARKETING
from tests.backoffice.conftest import PASSWORD, admin_url, code_for

SECTION_PAGES = {
    "stories": "campaign/story/",
    "mailings": "mailing/mailing/",
    "supporters": "campaign/supporter/",
    "finance": "donations/donation/",
    "staff": "auth/user/",
}

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def csp_violations(page: Page) -> list[str]:
    # unfold opens its sidebar on screens wider than 1280 px only.
    page.set_viewport_size({"width": 1440, "height": 900})
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return found


def test_staff_log_in_with_a_totp_code_and_land_on_the_themed_dashboard(
    page: Page,
    live_server: Any,
    make_staff: Callable[..., Any],
    artifacts_dir: Path,
    finance_rows: dict[str, Any],
) -> None:
    user = make_staff(ADMIN)
    device = TOTPDevice.objects.get(user=user)
    violations = csp_violations(page)

    page.goto(f"{live_server.url}{admin_url()}")
    expect(page).to_have_url(f"{live_server.url}{admin_url('login/')}?next={admin_url()}")
    page.screenshot(path=str(artifacts_dir / "backoffice-login.png"))
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(device))
    page.click("#login-form button[type=submit]")

    expect(page).to_have_url(f"{live_server.url}{admin_url()}")
    sidebar = page.locator("#nav-sidebar")
    # One page of each section (Stories, Mailings, Supporters, Finance, Staff); the labels are
    # Dutch or English with the browser's language, the links are not.
    for tail in SECTION_PAGES.values():
        expect(sidebar.locator(f'a[href="{admin_url(tail)}"]')).to_be_visible()
    expect(page.locator("#dashboard section")).to_have_count(len(SECTION_PAGES))
    # unfold's stylesheet and Alpine.js ran under the staff CSP: the sidebar is laid out.
    assert sidebar.bounding_box() is not None
    page.screenshot(path=str(artifacts_dir / "backoffice-dashboard.png"), full_page=True)

    page.goto(f"{live_server.url}{admin_url('donations/donation/')}")
    expect(page.locator("#result_list")).to_contain_text("€\u00a025,00")
    page.screenshot(path=str(artifacts_dir / "backoffice-finance-gifts.png"), full_page=True)
    assert violations == []


def test_a_new_staff_member_enrols_an_authenticator_then_sees_their_role_only(
    page: Page, live_server: Any, make_staff: Callable[..., Any], artifacts_dir: Path
) -> None:
    user = make_staff(MARKETING, device=False)
    violations = csp_violations(page)

    page.goto(f"{live_server.url}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")

    expect(page).to_have_url(f"{live_server.url}{admin_url('enrol/')}")
    expect(page.locator("#enrol-qr")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "backoffice-enrol.png"), full_page=True)
    # What a person would type from the page into their app instead of scanning.
    page.locator("#enrol-form").scroll_into_view_if_needed()
    page.get_by_text("Lukt scannen niet?").click()  # the back office speaks Dutch
    secret = "".join(page.locator("#enrol-secret").inner_text().split())
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("#id_token", f"{totp(key):06d}")
    page.click("#enrol-form button[type=submit]")

    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.screenshot(path=str(artifacts_dir / "backoffice-recovery-codes.png"), full_page=True)
    page.get_by_text("Ik heb ze bewaard").click()

    expect(page).to_have_url(f"{live_server.url}{admin_url()}")
    sidebar = page.locator("#nav-sidebar")
    expect(sidebar.locator(f'a[href="{admin_url(SECTION_PAGES["mailings"])}"]')).to_be_visible()
    expect(sidebar.locator(f'a[href^="{admin_url("donations/")}"]')).to_have_count(0)
    expect(sidebar.locator(f'a[href^="{admin_url("auth/")}"]')).to_have_count(0)
    # Stories, Mailings, Supporters: no Finance and no Staff heading.
    expect(page.locator("#dashboard section")).to_have_count(3)
    page.screenshot(path=str(artifacts_dir / "backoffice-dashboard-marketing.png"), full_page=True)
    # The editing pages work under the staff CSP too (forms, inlines, prepopulated slugs).
    page.goto(f"{live_server.url}{admin_url('mailing/sequence/add/')}")
    page.locator("#id_name").press_sequentially("Welkom in de verhalen")  # keyup drives it
    expect(page.locator("#id_slug")).to_have_value("welkom-in-de-verhalen")
    page.goto(f"{live_server.url}{admin_url('mailing/mailing/add/')}")
    expect(page.locator("#id_subject_nl")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "backoffice-mailing-add.png"), full_page=True)
    # The finance pages answer 403 to this role, whatever the menu shows.
    response = page.goto(f"{live_server.url}{admin_url('donations/donation/')}")
    assert response is not None
    assert response.status == 403
    assert violations == []


@pytest.mark.parametrize("role", [MARKETING, FINANCE])
def test_staff_switch_the_back_office_between_dutch_and_english_in_the_account_menu(
    page: Page, live_server: Any, make_staff: Callable[..., Any], artifacts_dir: Path, role: str
) -> None:
    user = make_staff(role)
    page.set_viewport_size({"width": 1440, "height": 900})  # the theme shows its sidebar
    page.goto(f"{live_server.url}{admin_url()}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(TOTPDevice.objects.get(user=user)))
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}{admin_url()}")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    account_menu = page.locator("[x-data*=openUserLinks] > div.cursor-pointer")

    choices = (("en", "English", "Log out"), ("nl", "Nederlands", "Uitloggen"))
    for language, switch_label, sign_out in choices:
        account_menu.click()
        switch = page.locator(f"nav button[type=submit][lang={language}]")
        expect(switch).to_contain_text(switch_label)
        switch.click()
        # The same page again, now in the chosen language, and it stays so when opened anew.
        expect(page).to_have_url(f"{live_server.url}{admin_url()}")
        expect(page.locator("html")).to_have_attribute("lang", language)
        page.goto(f"{live_server.url}{admin_url()}")
        expect(page.locator("html")).to_have_attribute("lang", language)
        account_menu.click()
        expect(page.locator("[x-data*=openUserLinks] nav")).to_contain_text(sign_out)
        page.screenshot(path=str(artifacts_dir / f"backoffice-language-{role}-{language}.png"))
        page.reload()  # the menu closed again
