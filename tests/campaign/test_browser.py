"""The whole supporter journey in headless Chromium, with a real Celery worker and SMTP server:
sign up on a story page in Dutch, confirm from the email, manage preferences, unsubscribe."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest
from playwright.sync_api import Browser, Page, expect

from campaign.models import Consent, Supporter
from campaign.selectors import supporter_may_receive
from tests.factories import StoryFactory
from tests.harness.smtp import SmtpServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.usefixtures("consent_texts"),
]

AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, pattern: str) -> str:
    match = re.search(rf"http://\S+{pattern}\S*/", text_of(message))
    assert match, text_of(message)
    return match.group(0)


def test_sign_up_confirm_manage_and_unsubscribe_in_chromium(
    page: Page,
    live_server: Any,
    smtp_server: SmtpServer,
    celery_worker: Any,
    artifacts_dir: Path,
) -> None:
    # The worker sends through our SMTP server, with links back to this live server.
    celery_worker(EMAIL_URL=smtp_server.url, SITE_URL=live_server.url)
    story = StoryFactory(title_nl="Amal zoekt een veilige plek")

    # 1. Sign up on a story page, in Dutch.
    page.goto(f"{live_server.url}/verhalen/{story.slug}/?utm_source=test&utm_medium=browser")
    signup = page.get_by_role("region", name="Volg hun verhalen per e-mail")
    signup.get_by_label("E-mailadres").fill("Amal.Browser@Voorbeeld.nl")
    signup.get_by_label("Voornaam (niet verplicht)").fill("Amal")
    expect(signup.get_by_label("Taal van onze e-mails")).to_have_value("nl")
    signup.get_by_role("checkbox", name=re.compile(r"^Verhalen")).check()
    signup.get_by_role("checkbox", name=re.compile(r"^Oproepen")).check()
    signup.get_by_role("button", name="Aanmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bijna klaar: check je inbox")

    supporter = Supporter.objects.get()
    assert supporter.status == Supporter.Status.PENDING
    assert (supporter.source_page, supporter.utm_source) == (f"/verhalen/{story.slug}/", "test")
    assert not supporter_may_receive(supporter.pk, "stories")

    # 2. The worker sends the Dutch confirmation email; its link opens a page whose button
    # confirms (opening it alone confirms nothing: mail scanners open links too).
    message = smtp_server.wait_for(1, timeout=45)[0].message
    assert message["To"] == "Amal.Browser@voorbeeld.nl"
    assert message["Subject"] == "Bevestig je aanmelding bij Save the Survivors"
    assert "Hoi Amal," in text_of(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page.goto(link_in(message, "/aanmelden/bevestigen/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bevestig je aanmelding")
    page.screenshot(path=str(artifacts_dir / "supporter-confirm.png"), full_page=True)
    supporter.refresh_from_db()
    assert supporter.status == Supporter.Status.PENDING
    page.get_by_role("button", name="Bevestig mijn aanmelding").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Dank je wel: je aanmelding is bevestigd"
    )
    supporter.refresh_from_db()
    assert supporter.status == Supporter.Status.ACTIVE
    agent = page.evaluate("navigator.userAgent")
    for consent in Consent.objects.filter(supporter=supporter):
        assert consent.confirmed_user_agent == agent
    assert supporter_may_receive(supporter.pk, "stories")
    assert supporter_may_receive(supporter.pk, "appeals")

    # 3. The preference centre, opened from the link in the email.
    page.goto(link_in(message, "/voorkeuren/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Je e-mailvoorkeuren")
    expect(page.get_by_role("checkbox", name=re.compile(r"^Oproepen"))).to_be_checked()

    # 4. Switch to English and drop a topic.
    page.get_by_label("Taal van onze e-mails").select_option("en")
    page.get_by_role("checkbox", name=re.compile(r"^Oproepen")).uncheck()
    page.get_by_role("button", name="Sla mijn keuzes op").click()
    expect(page.get_by_role("status")).to_have_text("Your choices are saved.")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert "/en/preferences/" in page.url
    expect(page.get_by_role("checkbox", name=re.compile(r"^Appeals"))).not_to_be_checked()
    expect(page.get_by_role("checkbox", name=re.compile(r"^Stories"))).to_be_checked()
    supporter.refresh_from_db()
    assert supporter.language == "en"
    assert supporter_may_receive(supporter.pk, "stories")
    assert not supporter_may_receive(supporter.pk, "appeals")
    page.screenshot(path=str(artifacts_dir / "supporter-preferences.png"), full_page=True)

    # 5. Unsubscribe from everything.
    page.get_by_role("button", name="Unsubscribe from everything").click()
    expect(page.get_by_role("status")).to_contain_text("You are unsubscribed from all our emails")
    supporter.refresh_from_db()
    assert supporter.status == Supporter.Status.UNSUBSCRIBED
    assert not Consent.objects.filter(supporter=supporter, withdrawn_at__isnull=True).exists()
    for topic in ("stories", "appeals", "donor_news"):
        assert not supporter_may_receive(supporter.pk, topic)


def test_the_forms_work_and_read_well_without_javascript(
    browser: Browser, live_server: Any
) -> None:
    """JavaScript off: errors come back from the server, in the page, announced and linked."""
    context = browser.new_context(locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/en/signup/")
        page.get_by_label("Email address").fill("not-an-address")
        page.get_by_role("button", name="Sign up").click()

        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("An email address needs an @")
        expect(alert).to_contain_text("Choose at least one topic.")
        expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
        expect(page).to_have_title(re.compile(r"^Error: "))
        assert Supporter.objects.count() == 0
    finally:
        context.close()


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """Its context ignores our CSP so that axe-core can be injected inline."""
    context = browser.new_context(locale="nl-NL", bypass_csp=True)
    yield context.new_page()
    context.close()


def test_supporter_pages_have_no_serious_accessibility_violations(
    axe_page: Page, live_server: Any
) -> None:
    from campaign import tokens
    from campaign.emails import supporter_link_token
    from tests.factories import ConsentFactory, SupporterFactory

    person = SupporterFactory()
    ConsentFactory(supporter=person, topic="stories")
    token = supporter_link_token(person)
    pending = SupporterFactory(confirmation_nonce="0123456789abcdef", confirmed_at=None)
    ConsentFactory(supporter=pending, topic="stories", confirmed_at=None)
    confirm = tokens.confirmation_token(supporter_id=pending.pk, nonce=pending.confirmation_nonce)
    data = {
        purpose: tokens.data_link_token(
            purpose=purpose,
            supporter_id=person.pk,
            link_secret=person.link_secret,
            nonce="00112233aabbccdd",
        )
        for purpose in ("export", "erase")
    }
    failures: list[str] = []
    for path, submit in [
        ("/aanmelden/", "Aanmelden"),  # submitted empty: the page with every error shown
        (f"/voorkeuren/{token}/", None),
        (f"/u/{token}/", None),
        ("/aanmelden/opnieuw/", None),
        ("/aanmelden/bevestigen/bad/", None),
        (f"/aanmelden/bevestigen/{confirm}/", None),
        (f"/mijn-gegevens/downloaden/{data['export']}/", None),
        (f"/mijn-gegevens/wissen/{data['erase']}/", None),
    ]:
        axe_page.goto(live_server.url + path)
        if submit:
            axe_page.get_by_role("button", name=submit).click()
        axe_page.add_script_tag(content=AXE_JS)
        results = axe_page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
        )
        failures += [
            f"{path}: [{v['impact']}] {v['id']}: {[n['target'] for n in v['nodes']]}"
            for v in results["violations"]
            if v["impact"] in {"serious", "critical"}
        ]
    assert failures == []
