"""The sunset rule as marketing meets it, in headless Chromium against the live server: the
schedule page says how many of the segment it leaves out before anything is scheduled; a
scheduled mailing counts them as skipped on its results page; ticking the box includes them
(a re-engagement mailing). Real rows for each sign of life (tests/mailing/sunset_people.py)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from backoffice.roles import MARKETING
from mailing import services
from mailing.models import Delivery, Mailing
from tests.backoffice.conftest import PASSWORD, admin_url, code_for
from tests.factories import ConsentTextFactory, UserFactory
from tests.mailing.factories import MailingFactory, SegmentFactory
from tests.mailing.sunset_people import sunset_people

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
LEFT_OUT = 4  # three stale supporters and one whose last click is 400 days old


def _schedule(page: Page, base: str, mailing: Mailing, *, include: bool) -> None:
    page.goto(f"{base}{admin_url(f'mailing/mailing/{mailing.pk}/schedule/')}")
    expect(page.locator("#recipient-count")).to_contain_text("8")
    expect(page.locator("#sunset-notice")).to_contain_text(str(LEFT_OUT))
    when = datetime.now(AMSTERDAM) + timedelta(days=1)
    page.fill("#id_day", when.date().isoformat())
    page.fill("#id_at", "09:30:00")
    if include:
        page.locator("#id_include_sunset").check()
    page.locator("#schedule-form button[type=submit]").click()
    expect(page.locator("#results-page")).to_be_visible()


def test_marketing_sees_who_the_sunset_rule_leaves_out_and_can_include_them(
    page: Page, live_server: Any
) -> None:
    people = sunset_people(ConsentTextFactory(topic="stories", language="nl"))
    assert len(people) == 8
    user = UserFactory(email="redactie@savethechildren.example")
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=MARKETING))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    base = live_server.url
    page.goto(f"{base}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(device))
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(f"{base}{admin_url()}")

    segment = SegmentFactory()
    usual = MailingFactory(name="Gewone mailing", segment=segment)
    again = MailingFactory(name="Heractivering", segment=segment)
    _schedule(page, base, usual, include=False)
    _schedule(page, base, again, include=True)
    usual.refresh_from_db()
    again.refresh_from_db()
    assert (usual.state, usual.include_sunset) == ("scheduled", False)
    assert (again.state, again.include_sunset) == ("scheduled", True)

    # The send time comes: the ledger is made (as the periodic tick does).
    services.mailing_tick(now=timezone.now() + timedelta(days=2))
    page.goto(f"{base}{admin_url(f'mailing/mailing/{usual.pk}/results/')}")
    expect(page.locator('#skip-reasons [data-reason="sunset"] [data-count]')).to_have_text(
        str(LEFT_OUT)
    )
    page.goto(f"{base}{admin_url(f'mailing/mailing/{again.pk}/results/')}")
    expect(page.locator('#skip-reasons [data-reason="sunset"]')).to_have_count(0)
    skipped = Delivery.objects.filter(state="skipped", reason="sunset")
    assert skipped.filter(message__mailing=usual).count() == LEFT_OUT
    assert not skipped.filter(message__mailing=again).exists()
    assert Delivery.objects.filter(message__mailing=again, state="queued").count() == 8
