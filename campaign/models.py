from __future__ import annotations

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from campaign.markdown import render_markdown


class Bilingual:
    """Dutch is the source language; English falls back to Dutch where a text is missing."""

    def localized(self, field: str, language: str | None = None) -> str:
        language = (language or get_language() or "nl")[:2]
        value = getattr(self, f"{field}_{language}", "") if language != "nl" else ""
        return str(value or getattr(self, f"{field}_nl"))


class Campaign(Bilingual, models.Model):
    slug = models.SlugField(unique=True)
    name_nl = models.CharField(_("name (Dutch)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    tagline_nl = models.CharField(_("tagline (Dutch)"), max_length=300)
    tagline_en = models.CharField(_("tagline (English)"), max_length=300, blank=True)
    intro_nl = models.TextField(_("introduction (Dutch, Markdown)"))
    intro_en = models.TextField(_("introduction (English, Markdown)"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name_nl

    @property
    def name(self) -> str:
        return self.localized("name")

    @property
    def tagline(self) -> str:
        return self.localized("tagline")

    @property
    def intro_html(self) -> str:
        return render_markdown(self.localized("intro"))


class StoryQuerySet(models.QuerySet["Story"]):
    def published(self) -> StoryQuerySet:
        return self.filter(is_published=True, campaign__is_active=True)


class Story(Bilingual, models.Model):
    """A true story of a child on the move, told in Dutch and English."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="stories")
    slug = models.SlugField(unique=True, max_length=80)
    child_pseudonym = models.CharField(
        _("child's pseudonym"),
        max_length=60,
        help_text=_("Never the child's real name."),
    )
    child_age = models.PositiveSmallIntegerField(_("age"), null=True, blank=True)
    route_nl = models.CharField(_("route or country (Dutch)"), max_length=120)
    route_en = models.CharField(_("route or country (English)"), max_length=120, blank=True)
    title_nl = models.CharField(_("title (Dutch)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    summary_nl = models.TextField(_("summary (Dutch)"), max_length=600)
    summary_en = models.TextField(_("summary (English)"), max_length=600, blank=True)
    body_nl = models.TextField(_("story (Dutch, Markdown)"))
    body_en = models.TextField(_("story (English, Markdown)"), blank=True)
    image = models.ImageField(_("image"), upload_to="stories/", blank=True)
    image_alt_nl = models.CharField(_("image description (Dutch)"), max_length=250, blank=True)
    image_alt_en = models.CharField(_("image description (English)"), max_length=250, blank=True)
    is_illustrative = models.BooleanField(
        _("illustrative demo content"),
        default=False,
        help_text=_("Composite story written for demonstration; shown with a notice."),
    )
    is_published = models.BooleanField(_("published"), default=False)
    order = models.PositiveIntegerField(_("order"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StoryQuerySet.as_manager()

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("story")
        verbose_name_plural = _("stories")

    def __str__(self) -> str:
        return self.title_nl

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("campaign:story", kwargs={"slug": self.slug})

    @property
    def title(self) -> str:
        return self.localized("title")

    @property
    def summary(self) -> str:
        return self.localized("summary")

    @property
    def route(self) -> str:
        return self.localized("route")

    @property
    def image_alt(self) -> str:
        return self.localized("image_alt")

    @property
    def body_html(self) -> str:
        return render_markdown(self.localized("body"))
