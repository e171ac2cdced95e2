"""Each demo story has its own drawn SVG illustration, shown on its page and its landing card
with the story's image description as alt text; a story without one shows no picture."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import Page, expect

from campaign import demo_content
from tests.factories import CampaignFactory, StoryFactory

STORIES = [dict(story) for story in demo_content.STORIES]


@pytest.fixture
def demo(settings: Any, tmp_path: Path) -> None:
    settings.BASE_DIR = tmp_path  # seed_demo keeps the demo admin's password under BASE_DIR
    call_command("seed_demo", stdout=io.StringIO())


def _images(page: str, css_class: str) -> list[tuple[str, str]]:
    return [
        (src, html.unescape(alt))
        for src, alt in re.findall(rf'<img class="{css_class}" src="([^"]+)" alt="([^"]*)"', page)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("story", STORIES, ids=[s["slug"][:20] for s in STORIES])
def test_story_page_shows_its_illustration_with_alt_text(
    client: Client, demo: None, story: dict[str, Any]
) -> None:
    dutch = client.get(f"/verhalen/{story['slug']}/").content.decode()
    src = f"/static/campaign/stories/{story['slug']}.svg"
    assert _images(dutch, "story-image") == [(src, story["image_alt_nl"])]
    assert 'class="notice" role="note"' in dutch  # still said to be illustrative
    english = client.get(f"/en/stories/{story['slug']}/").content.decode()
    assert _images(english, "story-image") == [(src, story["image_alt_en"])]
    drawing = client.get(src)
    assert drawing.status_code == 200
    body = b"".join(drawing.streaming_content) if drawing.streaming else drawing.content  # type: ignore[attr-defined]
    assert body.lstrip().startswith(b"<svg")
    assert b"<image" not in body  # drawn, not an embedded photo


@pytest.mark.django_db
def test_landing_cards_carry_the_illustrations(client: Client, demo: None) -> None:
    cards = _images(client.get("/").content.decode(), "story-card-image")
    expected = {(f"/static/campaign/stories/{s['slug']}.svg", s["image_alt_nl"]) for s in STORIES}
    assert set(cards) == expected


@pytest.mark.django_db
def test_a_story_without_a_picture_shows_none(client: Client) -> None:
    story = StoryFactory(campaign=CampaignFactory(), slug="zonder-plaatje", is_published=True)
    page = client.get(f"/verhalen/{story.slug}/").content.decode()
    assert "story-image" not in page.split("<main")[1]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_story_page_in_chromium(
    page: Page, live_server: Any, demo: None, artifacts_dir: Path
) -> None:
    story = STORIES[1]
    page.goto(f"{live_server.url}/verhalen/{story['slug']}/")
    picture = page.locator("img.story-image")
    expect(picture).to_have_attribute("alt", story["image_alt_nl"])
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0")  # loaded under CSP
    column = page.locator("article.story").bounding_box()
    signup = page.locator("section.signup").bounding_box()
    assert column is not None
    assert signup is not None
    assert abs(signup["width"] - column["width"]) < 1
    assert abs(signup["x"] - column["x"]) < 1
    page.screenshot(path=str(artifacts_dir / "story-page.png"), full_page=True)
    page.goto(f"{live_server.url}/")
    page.screenshot(path=str(artifacts_dir / "landing-page.png"), full_page=True)
