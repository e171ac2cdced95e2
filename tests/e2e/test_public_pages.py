"""The public campaign pages, driven in a real headless Chromium against the live server."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from campaign import demo_content
from campaign.models import Campaign, Story
from tests.factories import StoryFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}

STORIES: list[dict[str, Any]] = [dict(story) for story in demo_content.STORIES]
FIRST = STORIES[0]
UNPUBLISHED_NL = "Dit verhaal is nog niet gepubliceerd"
UNPUBLISHED_EN = "This story is not published yet"


@pytest.fixture
def demo(settings: Any, tmp_path: Path) -> Story:
    """The demo campaign and its stories, committed, plus one unpublished story.

    seed_demo also keeps the demo admin's password under BASE_DIR/var: point BASE_DIR at a
    temporary folder so the test never overwrites a developer's own file.
    """
    settings.BASE_DIR = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    campaign = Campaign.objects.get(slug=demo_content.CAMPAIGN["slug"])
    assert Story.objects.published().count() == len(STORIES)
    return StoryFactory(
        campaign=campaign,
        slug="nog-niet-klaar",
        title_nl=UNPUBLISHED_NL,
        title_en=UNPUBLISHED_EN,
        is_published=False,
    )


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """A page whose context ignores the site's CSP, so axe-core can be injected inline."""
    context = browser.new_context(
        locale="nl-NL", viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def run_axe(page: Page) -> dict[str, Any]:
    page.add_script_tag(content=AXE_JS)
    results: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    return results


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {node['target']}: {node['failureSummary']}")
    return "\n".join(lines)


def blocking(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in results["violations"] if v["impact"] in BLOCKING_IMPACTS]


def story_path(slug: str, language: str) -> str:
    return f"/verhalen/{slug}/" if language == "nl" else f"/en/stories/{slug}/"


# 1. Languages, story links and the language switcher


@pytest.mark.parametrize(
    ("language", "path", "other", "switch_label"),
    [("nl", "/", "en", "English"), ("en", "/en/", "nl", "Nederlands")],
)
def test_landing_lists_published_stories_and_links_to_them_in_both_languages(
    page: Page,
    live_server: Any,
    demo: Story,
    language: str,
    path: str,
    other: str,
    switch_label: str,
) -> None:
    response = page.goto(live_server.url + path)

    assert response is not None
    assert response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", language)
    stories = page.get_by_role("region", name=re.compile("verhalen|stories", re.IGNORECASE))
    for story in STORIES:
        link = stories.get_by_role("link", name=story[f"title_{language}"], exact=True)
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", story_path(story["slug"], language))
        expect(page.get_by_text(story[f"title_{other}"], exact=True)).to_have_count(0)
    expect(stories.get_by_role("listitem")).to_have_count(len(STORIES))
    expect(page.get_by_text(UNPUBLISHED_NL)).to_have_count(0)
    expect(page.get_by_text(UNPUBLISHED_EN)).to_have_count(0)

    page.get_by_role("link", name=FIRST[f"title_{language}"], exact=True).click()

    expect(page).to_have_url(live_server.url + story_path(FIRST["slug"], language))
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("heading", level=1)).to_have_text(FIRST[f"title_{language}"])

    page.get_by_role("navigation").get_by_role("link", name=switch_label, exact=True).click()

    expect(page).to_have_url(live_server.url + story_path(FIRST["slug"], other))
    expect(page.locator("html")).to_have_attribute("lang", other)
    expect(page.get_by_role("heading", level=1)).to_have_text(FIRST[f"title_{other}"])


def test_unpublished_story_has_no_page(page: Page, live_server: Any, demo: Story) -> None:
    response = page.goto(live_server.url + story_path(demo.slug, "nl"))

    assert response is not None
    assert response.status == 404
    expect(page.get_by_text(UNPUBLISHED_NL)).to_have_count(0)


# 2. Keyboard


def test_tab_first_focuses_visible_skip_link_that_moves_focus_to_main(
    page: Page, live_server: Any, demo: Story
) -> None:
    page.goto(live_server.url + "/")
    skip = page.get_by_role("link", name="Naar de inhoud", exact=True)
    expect(skip).not_to_be_in_viewport()

    page.keyboard.press("Tab")

    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    box = skip.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0
    assert box["width"] > 20
    assert box["height"] > 10

    page.keyboard.press("Enter")

    expect(page.locator("main#main")).to_be_focused()
    expect(page).to_have_url(live_server.url + "/#main")


# 3. Accessibility (axe-core, WCAG 2.1 A and AA)


def test_axe_reports_a_planted_violation(axe_page: Page, live_server: Any) -> None:
    """The axe harness itself works: a page with a known problem must not come back clean."""
    axe_page.goto(live_server.url + "/en/")
    axe_page.evaluate(
        """() => {
            const image = document.createElement('img');
            image.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';
            document.querySelector('main').append(image);
        }"""
    )

    results = run_axe(axe_page)

    assert "image-alt" in {v["id"] for v in blocking(results)}, describe(results["violations"])


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/en/",
        story_path(FIRST["slug"], "nl"),
        story_path(FIRST["slug"], "en"),
        "/verhalen/bestaat-niet/",
    ],
)
def test_page_has_no_serious_accessibility_violations(
    axe_page: Page, live_server: Any, demo: Story, path: str
) -> None:
    axe_page.goto(live_server.url + path)

    results = run_axe(axe_page)

    assert results["passes"], "axe ran no checks at all"
    violations = blocking(results)
    assert not violations, f"axe on {path}:\n{describe(violations)}"


# 4. Not found


@pytest.mark.parametrize(
    ("path", "language", "heading"),
    [
        ("/verhalen/bestaat-niet/", "nl", "Pagina niet gevonden"),
        ("/en/stories/nope/", "en", "Page not found"),
    ],
)
def test_missing_page_shows_404_in_its_language(
    page: Page, live_server: Any, path: str, language: str, heading: str
) -> None:
    response = page.goto(live_server.url + path)

    assert response is not None
    assert response.status == 404
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page).to_have_title(re.compile(f"^{heading} "))


# 5. Screenshots for people to look at


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/", "public-landing-nl.png"),
        ("/en/", "public-landing-en.png"),
        (story_path(FIRST["slug"], "nl"), "public-story-nl.png"),
    ],
)
def test_full_page_screenshot(
    page: Page, live_server: Any, demo: Story, artifacts_dir: Path, path: str, name: str
) -> None:
    page.goto(live_server.url + path)
    # The stylesheet is applied (the red brand line under the header), not a bare HTML page.
    expect(page.locator(".site-header")).to_have_css("border-bottom-color", "rgb(179, 38, 30)")
    target = artifacts_dir / name
    target.unlink(missing_ok=True)

    page.screenshot(path=str(target), full_page=True)

    assert target.stat().st_size > 10_000


# 6. No console errors under the real Content-Security-Policy


@pytest.mark.parametrize("path", ["/", "/en/", story_path(FIRST["slug"], "nl")])
def test_no_console_errors_with_csp_enforced(
    page: Page, live_server: Any, demo: Story, path: str
) -> None:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))

    response = page.goto(live_server.url + path, wait_until="networkidle")

    assert response is not None
    assert response.status == 200
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert errors == []
