from __future__ import annotations

from django import template

from campaign.illustrations import story_picture_url
from campaign.models import Story

register = template.Library()


@register.filter
def picture_url(story: Story) -> str:
    """The URL of the story's picture, or "" when it has none (campaign/illustrations.py)."""
    return story_picture_url(story)
