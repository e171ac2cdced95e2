"""In headless Chromium: a Finance user starts an export from the Exports page, watches the
bar reach 100% while a real worker writes the file, and downloads it from the revealed link."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from backoffice.models import ExportJob
from backoffice.roles import FINANCE
from tests.backoffice.conftest import PASSWORD, admin_url, code_for
from tests.factories import UserFactory
from tests.finance.ledger_rows import FIRST_DAY, LAST_DAY, ledger_rows

ROWS = 20_000

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def test_finance_starts_an_export_sees_the_bar_reach_100_and_downloads_the_file(
    page: Page,
    live_server: Any,
    celery_worker: Callable[..., Any],
    settings: Any,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    # Given a month of ledger rows, a worker, and a Finance user with an authenticator app.
    settings.EXPORT_FILES_ROOT = tmp_path / "exports"
    celery_worker(EXPORT_FILES_ROOT=str(settings.EXPORT_FILES_ROOT))
    ledger_rows(ROWS)
    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=FINANCE))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    page.set_viewport_size({"width": 1440, "height": 900})  # unfold shows its sidebar
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{live_server.url}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(device))
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}{admin_url()}")

    # When they open Exports from the sidebar and ask for the month.
    page.locator(f'#nav-sidebar a[href="{admin_url("finance/exports/")}"]').click()
    page.fill("#id_since", FIRST_DAY.isoformat())
    page.fill("#id_until", LAST_DAY.isoformat())
    page.select_option("#id_format", "csv")
    page.click("#export-form button[type=submit]")

    # Then the job page's bar reaches 100% without a reload and the link appears.
    expect(page).to_have_url(re.compile(re.escape(admin_url("finance/exports/")) + r"\d+/$"))
    job = ExportJob.objects.get()
    assert page.url == f"{live_server.url}{admin_url(f'finance/exports/{job.pk}/')}"
    bar = page.get_by_test_id("progress")
    expect(bar).to_have_attribute("data-percent", "100", timeout=60_000)
    expect(bar).to_have_attribute("data-state", "done")
    expect(bar.locator("[data-progress-label]")).to_contain_text(f"{ROWS} / {ROWS}")
    link = page.locator("#export-download a")
    expect(link).to_be_visible()
    expect(page.locator("#export-failed")).to_be_hidden()
    page.screenshot(path=str(artifacts_dir / "backoffice-finance-export.png"), full_page=True)
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "transacties-2025-03-01-tot-2025-03-31.csv"
    lines = Path(download.path()).read_bytes().splitlines()
    assert len(lines) == ROWS + 1
    # The list shows the finished job (for people to look at: a CI artefact).
    page.locator("text=Alle exports").click()
    expect(page.locator("#export-jobs tbody tr")).to_have_count(1)
    page.screenshot(path=str(artifacts_dir / "backoffice-finance-exports.png"), full_page=True)
    assert violations == []
