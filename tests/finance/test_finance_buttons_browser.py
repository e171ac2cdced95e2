"""In headless Chromium (issue 15): Finance clicks the buttons of the monthly summary, the
annual statements and the payouts pages, and each does what it says; no page shows raw markup
(the theme's button once took the page's form as its form= attribute and printed it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from backoffice.roles import FINANCE
from donations.models import PayoutLine, StatementRun, Transaction
from tests.backoffice.conftest import PASSWORD, admin_url, code_for
from tests.factories import UserFactory
from tests.finance.ledger_rows import FIRST_DAY, ledger_rows

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

ROWS = 50


def _log_in_as_finance(page: Page, live_server: Any) -> None:
    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=FINANCE))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    page.set_viewport_size({"width": 1440, "height": 900})  # unfold shows its sidebar
    page.goto(f"{live_server.url}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(device))
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}{admin_url()}")


def _assert_no_raw_markup(page: Page) -> None:
    text = page.locator("body").inner_text()
    assert 'class="' not in text
    assert "{{" not in text
    assert "{%" not in text


def test_finance_shows_a_months_summary(page: Page, live_server: Any, artifacts_dir: Path) -> None:
    # Given March 2025's ledger: ROWS gifts of 25.00 + (g mod 977) cents, 0.29 fee each.
    ledger_rows(ROWS)
    gifts = sum(2500 + g % 977 for g in range(ROWS))
    _log_in_as_finance(page, live_server)

    page.goto(f"{live_server.url}{admin_url('finance/summary/')}")
    _assert_no_raw_markup(page)
    expect(page.locator("input[name=month]")).to_have_count(1)
    page.fill("#id_month", FIRST_DAY.strftime("%Y-%m"))
    page.locator("#summary-month button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"\?month=2025-03$"))
    total = page.locator("#summary-total")
    # Dutch money: thousands with a point, cents after a comma (€ 1.262,25).
    dutch = f"{gifts // 100:,}".replace(",", ".") + f",{gifts % 100:02d}"
    expect(total).to_contain_text(dutch)
    expect(total).to_contain_text(f"{(ROWS * 29) // 100},{(ROWS * 29) % 100:02d}")
    _assert_no_raw_markup(page)
    page.screenshot(path=str(artifacts_dir / "backoffice-finance-summary.png"), full_page=True)


def test_finance_starts_the_annual_statements(
    page: Page, live_server: Any, artifacts_dir: Path
) -> None:
    last_year = timezone.localdate().year - 1
    _log_in_as_finance(page, live_server)

    page.goto(f"{live_server.url}{admin_url('donations/statementrun/add/')}")
    _assert_no_raw_markup(page)
    expect(page.locator("input[name=year]")).to_have_count(1)
    page.fill("#id_year", str(last_year))
    page.screenshot(path=str(artifacts_dir / "backoffice-statements-start.png"), full_page=True)
    page.locator("#statement-run-form button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/donations/statementrun/\d+/change/$"))
    run = StatementRun.objects.get()
    assert run.year == last_year
    assert page.url.endswith(admin_url(f"donations/statementrun/{run.pk}/change/"))
    expect(page.locator("#run-statements")).to_contain_text(str(last_year))
    _assert_no_raw_markup(page)
    page.screenshot(path=str(artifacts_dir / "backoffice-statements-run.png"), full_page=True)


def test_finance_lists_payouts_and_opens_one_that_does_not_reconcile(
    page: Page, live_server: Any, artifacts_dir: Path
) -> None:
    # Given a payout of two gifts (€600.00 and €634.56) of which the ledger booked only one.
    settled = [("txn_booked", "charge", 60000), ("txn_missing", "charge", 63456)]
    settled.append(("txn_po_browser", "payout", -123456))
    for balance, kind, net in settled:
        PayoutLine.objects.create(
            payout="po_browser",
            balance_transaction=balance,
            type=kind,
            amount=net,
            fee=0,
            net=net,
            currency="eur",
        )
    booked = [("gift", "ch_booked", "txn_booked", 60000, "")]
    booked.append(("payout", "po_browser", "txn_po_browser", -123456, "po_browser"))
    for kind, stripe_object, balance, amount, payout in booked:
        Transaction.objects.create(
            kind=kind,
            amount=amount,
            fee=0,
            net=amount,
            currency="eur",
            stripe_object=stripe_object,
            stripe_balance_transaction=balance,
            stripe_payout=payout,
            occurred_at=timezone.now(),
        )
    _log_in_as_finance(page, live_server)

    page.goto(f"{live_server.url}{admin_url('finance/payouts/')}")
    page.locator("#payout-period button[type=submit]").click()
    row = page.locator('#payouts tr[data-payout="po_browser"]')
    expect(row).to_have_attribute("data-flagged", "true")
    expect(row).to_contain_text("€\xa01.234,56")
    expect(row).to_contain_text("€\xa0600,00")
    _assert_no_raw_markup(page)
    page.screenshot(path=str(artifacts_dir / "backoffice-finance-payouts.png"), full_page=True)

    row.locator("a", has_text="po_browser").click()
    missing = page.locator('tr[data-balance-transaction="txn_missing"]')
    expect(missing).to_have_attribute("data-problem", "not_in_ledger")
    expect(missing).to_contain_text("€\xa0634,56")
    expect(page.locator("tr[data-problem]")).to_have_count(1)
    _assert_no_raw_markup(page)
    page.screenshot(path=str(artifacts_dir / "backoffice-finance-payout.png"), full_page=True)
