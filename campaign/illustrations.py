"""A story's picture: the image staff uploaded, else the project's own SVG illustration for the
story (campaign/static/campaign/stories/<slug>.svg, drawn for the demo stories: no photos of
real children). Its description is always the story's image description (image_alt)."""

from __future__ import annotations

from functools import lru_cache

from django.contrib.staticfiles import finders
from django.templatetags.static import static

from campaign.models import Story


@lru_cache(maxsize=256)
def _drawn(slug: str) -> str:
    path = f"campaign/stories/{slug}.svg"
    return static(path) if finders.find(path) else ""


def story_picture_url(story: Story) -> str:
    if story.image:
        return str(story.image.url)
    return _drawn(story.slug)
