"""Back-office forms for content staff write: Markdown only, never raw HTML or script links."""

from __future__ import annotations

from typing import Any

from django import forms

from campaign.markdown import reject_unsafe_markup
from campaign.models import Story


class SafeContentForm(forms.ModelForm):
    """Refuses raw HTML and script links in the listed text fields, each with its own message.

    Rendering would strip them silently (nh3), so what staff wrote would not be what readers
    see; refusing says so while the text is still in front of them, and saves nothing.
    """

    markdown_fields: tuple[str, ...] = (
        "title_nl",
        "title_en",
        "summary_nl",
        "summary_en",
        "body_nl",
        "body_en",
        "preheader_nl",
        "preheader_en",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.markdown_fields:
            if name in self.fields and cleaned.get(name):
                try:
                    reject_unsafe_markup(cleaned[name])
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        return cleaned


class StoryForm(SafeContentForm):
    class Meta:
        model = Story
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose what is shown
