"""Back office for the campaign and its stories (Dutch and English side by side).

A story's preview shows the public page itself (same template, same styles) in both languages
next to each other, published or not, so staff see what readers will see before publishing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.utils.csp import CSP, build_policy
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action

from campaign.admin_forms import StoryForm
from campaign.forms import signup_form_for_page
from campaign.models import Campaign, Story
from campaign.selectors import stories_published

LANGUAGES = ("nl", "en")


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    list_display = ["name_nl", "slug", "is_active", "created_at"]
    search_fields = ["name_nl", "name_en", "slug"]
    prepopulated_fields = {"slug": ["name_nl"]}
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
    form = StoryForm
    actions_detail = ["open_preview"]
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

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/preview/", view(self.preview_view), name="campaign_story_preview"),
            path(
                "<int:pk>/preview/<str:language>/frame/",
                view(self.preview_frame_view),
                name="campaign_story_frame",
            ),
        ]
        return own + super().get_urls()

    @action(description=_("Preview as the public page"), permissions=["view"])
    def open_preview(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:campaign_story_preview", kwargs={"pk": object_id})
        )

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        story = get_object_or_404(Story, pk=pk)
        frames = [
            (
                language,
                reverse("admin:campaign_story_frame", kwargs={"pk": pk, "language": language}),
            )
            for language in LANGUAGES
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview: %(title)s") % {"title": story.title_nl},
            "opts": self.model._meta,
            "story": story,
            "frames": frames,
        }
        return TemplateResponse(request, "campaign/admin/story_preview.html", context)

    def preview_frame_view(self, request: HttpRequest, pk: int, language: str) -> HttpResponse:
        if not self.has_view_permission(request) or language not in LANGUAGES:
            raise PermissionDenied
        story = get_object_or_404(Story, pk=pk)
        with translation.override(language):
            context = {
                "story": story,
                "others": stories_published().exclude(pk=story.pk)[:3],
                "signup_form": signup_form_for_page(request),
                "is_preview": True,
            }
            response = TemplateResponse(request, "campaign/story.html", context).render()
        # The public page's own policy, except that our back office may frame it.
        policy: dict[str, Any] = {**settings.SECURE_CSP, "frame-ancestors": [CSP.SELF]}
        response["Content-Security-Policy"] = build_policy(
            policy, getattr(request, "_csp_nonce", None)
        )
        response["X-Frame-Options"] = "SAMEORIGIN"
        return response
