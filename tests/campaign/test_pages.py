from __future__ import annotations

import pytest
from django.test import Client

from campaign.markdown import render_markdown
from tests.factories import StoryFactory

pytestmark = pytest.mark.django_db


def test_landing_is_dutch_by_default_and_lists_published_stories(client: Client) -> None:
    shown = StoryFactory(title_nl="Amira vertelt", title_en="Amira tells")
    StoryFactory(title_nl="Nog geheim", is_published=False)

    response = client.get("/", headers={"accept-language": "en"})

    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="nl">' in html
    assert "Amira vertelt" in html
    assert "Nog geheim" not in html
    assert f'href="/verhalen/{shown.slug}/"' in html


def test_english_landing_under_en_prefix(client: Client) -> None:
    story = StoryFactory(title_nl="Amira vertelt", title_en="Amira tells")

    response = client.get("/en/")

    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Amira tells" in html
    assert f'href="/en/stories/{story.slug}/"' in html


def test_english_falls_back_to_dutch_text_when_missing(client: Client) -> None:
    StoryFactory(title_nl="Alleen Nederlands", title_en="")

    assert "Alleen Nederlands" in client.get("/en/").content.decode()


def test_story_page_in_both_languages(client: Client) -> None:
    story = StoryFactory(body_nl="Het *verhaal*.", body_en="The *story*.")

    nl = client.get(f"/verhalen/{story.slug}/").content.decode()
    en = client.get(f"/en/stories/{story.slug}/").content.decode()

    assert "Het <em>verhaal</em>." in nl
    assert "The <em>story</em>." in en
    # The language switch points at the same story in the other language.
    assert f'href="/en/stories/{story.slug}/"' in nl


def test_unknown_and_unpublished_slugs_give_404_in_visitors_language(client: Client) -> None:
    hidden = StoryFactory(is_published=False)

    nl = client.get("/verhalen/bestaat-niet/")
    en = client.get("/en/stories/does-not-exist/")
    unpublished = client.get(f"/verhalen/{hidden.slug}/")

    assert nl.status_code == en.status_code == unpublished.status_code == 404
    assert "Pagina niet gevonden" in nl.content.decode()
    assert "Page not found" in en.content.decode()


def test_illustrative_stories_carry_a_notice(client: Client) -> None:
    story = StoryFactory(is_illustrative=True)

    html = client.get(f"/en/stories/{story.slug}/").content.decode()

    assert "illustrative story" in html


def test_pages_send_a_content_security_policy(client: Client) -> None:
    response = client.get("/")

    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize(
    ("source", "expected_absent"),
    [
        ("<script>alert(1)</script>", "<script"),
        ("[x](javascript:alert(1))", "javascript:"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ('<a href="https://example.org" onclick="x()">y</a>', "onclick"),
    ],
)
def test_markdown_rendering_strips_anything_executable(source: str, expected_absent: str) -> None:
    assert expected_absent not in render_markdown(source)


def test_markdown_keeps_safe_formatting() -> None:
    html = render_markdown("> Ik wil naar school.\n\n**Vet** en [link](https://example.org)")

    assert "<blockquote>" in html
    assert "<strong>Vet</strong>" in html
    assert 'href="https://example.org"' in html


def test_every_page_has_the_campaign_mark_and_favicon_ico_finds_it(client: Client) -> None:
    html = client.get("/").content.decode()
    icon = client.get("/favicon.ico")
    mark = client.get(icon["Location"])

    assert 'rel="icon"' in html
    assert 'class="brand-mark"' in html
    assert icon.status_code == 301
    assert icon["Location"].endswith(".svg")
    assert mark.status_code == 200
    assert b"<svg" in b"".join(mark.streaming_content)  # type: ignore[attr-defined]
