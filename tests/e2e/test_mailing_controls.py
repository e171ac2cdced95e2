"""A mailing's results page in Chromium: Pause, Resume and Cancel change the mailing and update
the page where they are (state header, buttons, bar, a message) without reloading it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from backoffice.roles import MARKETING
from mailing.models import Delivery, Mailing
from tests.backoffice.conftest import PASSWORD, admin_url, code_for
from tests.factories import StoryFactory, SupporterFactory, UserFactory
from tests.mailing.factories import DeliveryFactory, MailingFactory, MessageFactory
from tests.staff import verified_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def test_pause_resume_and_cancel_update_the_results_page_in_place(
    page: Page, live_server: Any, artifacts_dir: Path
) -> None:
    # Sending: the ledger is written, two of five sent, three still queued.
    mailing = MailingFactory(
        name="Kerst met Noor",
        story=StoryFactory(),
        state=Mailing.State.SENDING,
        send_at=timezone.now() - timedelta(minutes=5),
        fanned_out_at=timezone.now() - timedelta(minutes=4),
    )
    message = MessageFactory(mailing=mailing)
    for n in range(5):
        state = Delivery.State.SENT if n < 2 else Delivery.State.QUEUED
        DeliveryFactory(message=message, supporter=SupporterFactory(), state=state)
    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=MARKETING))
    device = TOTPDevice.objects.create(user=user, name="telefoon", confirmed=True)

    base = live_server.url
    page.goto(f"{base}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(device))
    page.click("#login-form button[type=submit]")
    page.goto(f"{base}{admin_url(f'mailing/mailing/{mailing.pk}/results/')}")

    state = page.locator("[data-progress-state]")
    controls = page.locator("#mailing-controls")
    pause = controls.get_by_role("button", name="Pauzeren")
    resume = controls.get_by_role("button", name="Hervatten")
    cancel = controls.get_by_role("button", name="Annuleer de rest")
    status = page.locator("[data-controls-message]")
    expect(state).to_have_text("wordt verstuurd")
    expect(pause).to_be_visible()
    expect(resume).to_be_hidden()
    # A marker that a reload would lose: the page must stay the same page throughout.
    page.evaluate("window.__samePage = true")

    pause.click()
    expect(state).to_have_text("gepauzeerd")
    expect(status).to_have_text("De mailing is nu gepauzeerd.")
    expect(pause).to_be_hidden()
    expect(resume).to_be_visible()
    expect(cancel).to_be_visible()
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.PAUSED

    resume.click()
    expect(state).to_have_text("wordt verstuurd")
    expect(pause).to_be_visible()
    expect(resume).to_be_hidden()
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.SENDING

    cancel.click()
    expect(state).to_have_text("gestopt")
    expect(status).to_have_text("De mailing is nu gestopt.")
    for button in (pause, resume, cancel):
        expect(button).to_be_hidden()
    # The three still queued are skipped: the bar counts them done and is full.
    bar = page.locator("[data-progress-url]")
    expect(bar).to_have_attribute("data-finished", "true")
    expect(bar).to_have_attribute("data-percent", "100")
    expect(page.locator("[data-progress-label]")).to_contain_text("2 verstuurd")
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.CANCELLED
    assert Delivery.objects.filter(state=Delivery.State.SKIPPED).count() == 3
    assert page.evaluate("window.__samePage") is True
    page.screenshot(path=str(artifacts_dir / "marketing-mailing-cancelled.png"), full_page=True)


def test_a_plain_form_post_still_works_and_json_names_the_new_state() -> None:
    """The back office needs script (unfold), but the view keeps the plain post: a redirect
    with the message. Asked for JSON, it answers the progress payload and the message."""
    mailing = MailingFactory(story=StoryFactory(), state=Mailing.State.SCHEDULED)
    user = UserFactory()
    user.groups.add(Group.objects.get(name=MARKETING))
    client = verified_client(user)
    url = admin_url(f"mailing/mailing/{mailing.pk}/control/")

    response = client.post(url, {"do": "pause"}, HTTP_ACCEPT_LANGUAGE="nl", follow=True)
    assert response.redirect_chain[-1][0].endswith(f"/mailing/mailing/{mailing.pk}/results/")
    assert "De mailing is nu gepauzeerd." in response.content.decode()

    answer = client.post(url, {"do": "resume"}, HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    data = answer.json()
    assert (data["state"], data["finished"], data["level"]) == ("scheduled", False, "success")
    assert data["message"] == "De mailing is nu ingepland."  # the default language
    assert client.post(url, {"do": "explode"}, HTTP_ACCEPT="application/json").status_code == 400
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.SCHEDULED
