"""Back office for the campaign and its stories (Dutch and English side by side).

The richer editor (a preview as the public page shows it) is issue #6's next increment.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from campaign.models import Campaign, Story


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    list_display = ["name_nl", "slug", "is_active", "created_at"]
    search_fields = ["name_nl", "name_en", "slug"]
    fieldsets = [
        (None, {"fields": ["slug", "is_active"]}),
        (
            _("Dutch and English"),
            {
                "fields": [
                    ("name_nl", "name_en"),
                    ("tagline_nl", "tagline_en"),
                    ("intro_nl", "intro_en"),
                ]
            },
        ),
    ]


@admin.register(Story)
class StoryAdmin(ModelAdmin):
    list_display = [
        "title_nl",
        "child_pseudonym",
        "route_nl",
        "is_published",
        "order",
        "updated_at",
    ]
    list_filter = ["is_published", "is_illustrative", "campaign"]
    list_editable = ["order"]
    search_fields = ["title_nl", "title_en", "slug", "child_pseudonym"]
    prepopulated_fields = {"slug": ["title_nl"]}
    ordering = ["order", "-created_at"]
    fieldsets = [
        (None, {"fields": ["campaign", "slug", "is_published", "is_illustrative", "order"]}),
        (_("Who"), {"fields": ["child_pseudonym", "child_age", ("route_nl", "route_en")]}),
        (
            _("Dutch and English"),
            {
                "fields": [
                    ("title_nl", "title_en"),
                    ("summary_nl", "summary_en"),
                    ("body_nl", "body_en"),
                ]
            },
        ),
        (_("Image"), {"fields": ["image", ("image_alt_nl", "image_alt_en")]}),
    ]
