"""A marketer's day in headless Chromium against real servers: log in with a TOTP code, write a
story, build a two-step sequence and a mailing to a segment, preview it in Dutch and English,
send a test that arrives at the SMTP server, schedule it, and watch the progress bar reach 100%
while a real Celery worker (fed by a real beat) sends it. Screenshots of the dashboard and the
mailing's result page are kept in test-artifacts/ for people to look at."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from backoffice.roles import MARKETING
from campaign.models import Story
from mailing.models import Delivery, Mailing, Sequence
from tests.backoffice.conftest import PASSWORD, admin_url, code_for
from tests.factories import CampaignFactory, ConsentFactory, ConsentTextFactory, UserFactory
from tests.harness import processes
from tests.harness.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
RECIPIENTS = 24


def choose(page: Page, select_id: str, text: str) -> None:
    """Pick `text` in one of the admin's search-as-you-type (select2) fields, as a person does."""
    page.locator(f"#{select_id} + .select2 .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=text).first.click()


def save(page: Page) -> None:
    page.locator("button[name=_save]").first.click()


def test_marketer_writes_builds_previews_tests_schedules_and_watches_it_send(
    page: Page,
    live_server: Any,
    smtp_server: Any,
    artifacts_dir: Path,
    tmp_path: Path,
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    CampaignFactory()
    text = ConsentTextFactory(topic="stories", language="nl")
    for _ in range(RECIPIENTS):
        ConsentFactory(topic="stories", text=text)
    user = UserFactory(email="redactie@savethechildren.example")
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=MARKETING))
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    base = live_server.url

    # Log in: password and the code an authenticator app shows now.
    page.goto(f"{base}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(device))
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(f"{base}{admin_url()}")

    # A story, Dutch and English side by side.
    page.goto(f"{base}{admin_url('campaign/story/add/')}")
    page.locator("#id_campaign").select_option(index=1)
    page.fill("#id_slug", "noor-over-de-bergen")
    page.fill("#id_child_pseudonym", "Noor")
    page.fill("#id_route_nl", "Afghanistan naar Nederland")
    page.fill("#id_title_nl", "Noor over de bergen")
    page.fill("#id_title_en", "Noor across the mountains")
    page.fill("#id_summary_nl", "Hoe Noor de winter in de bergen doorkwam.")
    page.fill("#id_body_nl", "Noor liep **drie weken**. Ze droeg haar broertje.")
    page.fill("#id_body_en", "Noor walked for **three weeks**. She carried her brother.")
    save(page)
    expect(page.locator("#result_list")).to_contain_text("Noor over de bergen")
    story = Story.objects.get(slug="noor-over-de-bergen")

    # A two-step sequence from that story.
    page.goto(f"{base}{admin_url('mailing/sequence/add/')}")
    page.locator("#id_name").press_sequentially("Welkom met Noor")
    page.locator("#id_trigger").select_option("confirmed")
    for row, (subject, delay) in enumerate(
        [("Maak kennis met Noor", "meteen"), ("Noor, deel twee", "na 2 dagen")]
    ):
        page.fill(f"#id_steps-{row}-position", str(row + 1))
        page.locator(f"#id_steps-{row}-delay").select_option(label=delay)
        choose(page, f"id_steps-{row}-story", "Noor over de bergen")
        page.fill(f"#id_steps-{row}-subject_nl", subject)
    save(page)
    expect(page.locator("#result_list")).to_contain_text("Welkom met Noor")
    steps = Sequence.objects.get(name="Welkom met Noor").steps.order_by("position")
    assert [step.delay for step in steps] == [timedelta(0), timedelta(days=2)]

    # A segment and a mailing to it.
    page.goto(f"{base}{admin_url('mailing/segment/add/')}")
    page.fill("#id_name", "Verhalenlezers")
    page.locator("input[name=topics][value=stories]").check()
    save(page)
    page.goto(f"{base}{admin_url('mailing/mailing/add/')}")
    page.fill("#id_name", "Noor in december")
    choose(page, "id_segment", "Verhalenlezers")
    choose(page, "id_story", "Noor over de bergen")
    page.fill("#id_subject_nl", "Noor liep drie weken")
    page.fill("#id_subject_en", "Noor walked for three weeks")
    page.locator("button[name=_continue]").first.click()
    mailing = Mailing.objects.get(name="Noor in december")
    assert mailing.story == story

    # Preview in both languages, the real rendered email in the page.
    page.goto(f"{base}{admin_url(f'mailing/mailing/{mailing.pk}/preview/')}")
    expect(page.locator('[data-language="nl"] [data-subject]')).to_have_text("Noor liep drie weken")
    expect(page.locator('[data-language="en"] [data-subject]')).to_have_text(
        "Noor walked for three weeks"
    )
    nl_frame = page.frame_locator('[data-language="nl"] iframe')
    en_frame = page.frame_locator('[data-language="en"] iframe')
    expect(nl_frame.locator("body")).to_contain_text("drie weken")
    expect(en_frame.locator("body")).to_contain_text("three weeks")
    page.screenshot(path=str(artifacts_dir / "marketing-preview.png"), full_page=True)

    # A test to themselves, which is not a send.
    page.locator("#test-send select[name=language]").select_option("en")
    page.locator("#test-send button[type=submit]").click()
    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["redactie@savethechildren.example"]
    assert received.message["Subject"] == "[TEST] Noor walked for three weeks"
    assert not Delivery.objects.exists()

    # Schedule a few seconds ahead, in Amsterdam time, then watch it go out.
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        "EMAIL_URL": smtp_server.url,
        "MAILING_TICK_SECONDS": "1",
        "MAILING_BATCH_SIZE": "4",
        "MAILING_RATE_PER_SECOND": "8",
        "MAILING_RATE_BURST": "2",
    }
    worker = processes.start_worker(logs, **env)
    beat = processes.start_beat(logs, **env)
    try:
        page.goto(f"{base}{admin_url(f'mailing/mailing/{mailing.pk}/schedule/')}")
        expect(page.locator("#recipient-count")).to_contain_text(str(RECIPIENTS))
        when = datetime.now(AMSTERDAM) + timedelta(seconds=6)
        page.fill("#id_day", when.date().isoformat())
        page.fill("#id_at", when.strftime("%H:%M:%S"))
        page.locator("#schedule-form button[type=submit]").click()
        expect(page.locator("#results-page")).to_be_visible()
        # The page is never reloaded: a marker set now survives until the bar is full.
        page.evaluate("window.__stillSamePage = true")
        bar = page.locator("[data-progress-url]")
        seen: set[str] = set()

        def full() -> bool:
            seen.add(bar.get_attribute("data-percent") or "0")
            return bar.get_attribute("data-finished") == "true"

        wait_until(full, timeout=90, interval=0.3)
        assert bar.get_attribute("data-percent") == "100"
        assert len(seen) >= 2, seen  # it moved on the page, from less than 100 to 100
        assert page.evaluate("window.__stillSamePage") is True
    finally:
        beat.stop()
        worker.stop()
    assert Delivery.objects.filter(message__mailing=mailing, state="sent").count() == RECIPIENTS
    # The test plus every recipient, each once.
    assert len(smtp_server.wait_for(RECIPIENTS + 1)) == RECIPIENTS + 1

    page.reload()
    expect(page.locator('[data-stage="sent"]')).to_have_text(str(RECIPIENTS))
    page.screenshot(path=str(artifacts_dir / "marketing-mailing-results.png"), full_page=True)
    page.goto(f"{base}{admin_url()}")
    expect(page.locator("#campaign-charts svg").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "marketing-dashboard.png"), full_page=True)
