"""In headless Chromium: the dashboard with a month of figures (a screenshot for people to look
at), and a mailing's results page whose state header follows the live progress as the mailing
goes from scheduled to sending to finished, without a reload."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from backoffice.roles import ADMIN, MARKETING
from donations.models import Donation
from mailing.models import Mailing
from tests.backoffice.conftest import PASSWORD, admin_url, code_for
from tests.factories import DonationFactory, SupporterFactory
from tests.mailing.factories import MailingFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def log_in(page: Page, base: str, user: Any) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{base}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(TOTPDevice.objects.get(user=user)))
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(f"{base}{admin_url()}")


def test_dashboard_charts_have_titles_and_fit(
    page: Page, live_server: Any, make_staff: Callable[..., Any], artifacts_dir: Path
) -> None:
    today = timezone.localdate(timezone=AMSTERDAM)
    for back in range(0, 30, 3):
        day = today - timedelta(days=back)
        gift = DonationFactory(amount=1_234_56 * (back + 1))
        moment = datetime.combine(day, time(0, 30), AMSTERDAM)
        Donation.objects.filter(pk=gift.pk).update(created_at=moment)
        SupporterFactory(confirmed_at=moment)
    log_in(page, live_server.url, make_staff(ADMIN))
    charts = page.locator("#campaign-charts")
    for title in ("Bevestigde aanmeldingen per dag", "Giften per dag", "Euro's gegeven per dag"):
        expect(charts.locator("h3", has_text=title)).to_be_visible()
    # Every euro value lies inside its chart's drawing: nothing clipped.
    for svg in charts.locator("figure[data-chart=euros] svg").all():
        box = svg.bounding_box()
        assert box is not None
        for text in svg.locator("text[data-value]").all():
            inner = text.bounding_box()
            assert inner is not None
            assert inner["y"] >= box["y"] - 0.5
            assert inner["x"] >= box["x"] - 0.5
            assert inner["x"] + inner["width"] <= box["x"] + box["width"] + 0.5
    page.locator("#campaign-charts summary").click()
    charts.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "backoffice-dashboard-charts.png"), full_page=True)


def test_the_results_header_follows_the_live_progress(
    page: Page, live_server: Any, make_staff: Callable[..., Any], artifacts_dir: Path
) -> None:
    mailing = MailingFactory(state=Mailing.State.SCHEDULED, send_at=timezone.now())
    log_in(page, live_server.url, make_staff(MARKETING))
    page.goto(f"{live_server.url}{admin_url(f'mailing/mailing/{mailing.pk}/results/')}")
    header = page.locator("#results-page [data-progress-state]")
    expect(header).to_have_text("ingepland")
    page.evaluate("window.__stillSamePage = true")

    Mailing.objects.filter(pk=mailing.pk).update(state=Mailing.State.SENDING)
    expect(header).to_have_text("wordt verstuurd")
    expect(page.locator("[data-progress-label]")).to_contain_text("wordt verstuurd")

    Mailing.objects.filter(pk=mailing.pk).update(
        state=Mailing.State.FINISHED, finished_at=timezone.now()
    )
    expect(header).to_have_text("afgerond")
    expect(page.locator("[data-progress-url]")).to_have_attribute("data-finished", "true")
    assert page.evaluate("window.__stillSamePage") is True
    page.screenshot(path=str(artifacts_dir / "mailing-results-finished.png"), full_page=True)
