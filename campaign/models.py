from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
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


# --- Supporters, consent and their audit trail (issue #3) -------------------------------------
#
# Consent is proven row by row: each Consent points at the exact ConsentText version the person
# was shown, and records when, from which IP and user agent, and how it was given, confirmed
# (double opt-in) and withdrawn. Services in campaign/services.py are the only writers.


class Topic(models.TextChoices):
    """What a supporter can choose to receive; each is a separate consent (AVG: granular)."""

    STORIES = "stories", _("Stories")
    APPEALS = "appeals", _("Appeals")
    DONOR_NEWS = "donor_news", _("Donor news")


class Language(models.TextChoices):
    NL = "nl", "Nederlands"
    EN = "en", "English"


def _token_secret() -> str:
    return secrets.token_hex(6)


class ConsentText(models.Model):
    """The exact wording shown next to a topic's checkbox, per language, versioned.

    A version is frozen once a consent uses it (``first_used_at`` set): the model refuses to save
    a change and a PostgreSQL trigger refuses an UPDATE from anywhere else. New wording is a new
    version; the form offers the highest version.
    """

    topic = models.CharField(_("topic"), max_length=20, choices=Topic.choices)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices)
    version = models.PositiveIntegerField(_("version"))
    text = models.TextField(_("wording"), max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)
    first_used_at = models.DateTimeField(_("first used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        ordering = ["topic", "language", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["topic", "language", "version"], name="consenttext_one_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_topic_display()} ({self.get_language_display()}) v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and self.is_used:
            stored = ConsentText.objects.filter(pk=self.pk).values_list(
                "topic", "language", "version", "text"
            )
            if stored.first() != (self.topic, self.language, self.version, self.text):
                raise ValueError("A consent text in use is never edited; add a new version.")
        super().save(*args, **kwargs)

    @property
    def is_used(self) -> bool:
        return self.first_used_at is not None


class Supporter(models.Model):
    """A person who signed up for email. Personal data: see campaign/personal_data.py."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for confirmation")
        ACTIVE = "active", _("subscribed")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        ERASED = "erased", _("erased")

    # Normalised by email-validator (domain lower-cased and in ASCII); unique case-insensitively
    # by the functional index below. NULL once erased.
    email = models.EmailField(  # noqa: DJ001 - NULL once erased: "" would collide in the index
        _("email address"), max_length=254, null=True, blank=True
    )
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.NL
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("signed up"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(_("first confirmed"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed"), null=True, blank=True)
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)
    # Replaces the person in the rows the finance side must keep after erasure.
    pseudonym = models.CharField(_("pseudonym"), max_length=40, blank=True)
    # Where the sign-up came from: the page, its UTM parameters and the page before it.
    source_page = models.CharField(_("sign-up page"), max_length=300, blank=True)
    source_referrer = models.CharField(_("referrer"), max_length=500, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    # Part of every preference/unsubscribe link: rotating it revokes all links sent so far.
    link_secret = models.CharField(max_length=12, default=_token_secret, editable=False)
    # Part of the confirmation link while consents wait for confirmation; emptied once used,
    # so an old confirmation link can never re-subscribe someone who unsubscribed since.
    confirmation_nonce = models.CharField(max_length=16, blank=True, editable=False)

    class Meta:
        verbose_name = _("supporter")
        verbose_name_plural = _("supporters")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="supporter_email_ci_unique"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="supporter_status_idx")]
        permissions = [
            ("export_supporter_data", _("Can export a supporter's personal data")),
            ("erase_supporter", _("Can erase a supporter's personal data")),
        ]

    def __str__(self) -> str:
        # Never the address: this string ends up in admin logs and log lines.
        return f"supporter #{self.pk}"


class Consent(models.Model):
    """One consent for one topic, from the moment it is given until it is withdrawn.

    Open (``withdrawn_at`` empty) and unconfirmed: waiting for the double opt-in. Open and
    confirmed: the supporter may be emailed about the topic. Giving it again makes a new row.
    """

    class Method(models.TextChoices):
        FORM = "form", _("sign-up form")
        API = "api", _("API")
        IMPORT = "import", _("import")
        PREFERENCE_CENTRE = "preference_centre", _("preference centre")
        EMAIL_LINK = "email_link", _("link in an email")
        ONE_CLICK = "one_click", _("one-click unsubscribe")
        MAILTO = "mailto", _("unsubscribe email")
        COMPLAINT = "complaint", _("spam complaint")
        STAFF = "staff", _("staff")

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="consents")
    topic = models.CharField(_("topic"), max_length=20, choices=Topic.choices)
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="consents")
    method = models.CharField(_("given through"), max_length=20, choices=Method.choices)
    given_at = models.DateTimeField(_("given"))
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=500, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    confirmed_ip = models.GenericIPAddressField(_("confirmed from IP"), null=True, blank=True)
    confirmed_user_agent = models.CharField(
        _("confirmed with user agent"), max_length=500, blank=True
    )
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    withdrawn_method = models.CharField(
        _("withdrawn through"), max_length=20, choices=Method.choices, blank=True
    )

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["given_at", "id"]
        constraints = [
            # At most one open consent per topic: the supporter row is locked while it changes.
            models.UniqueConstraint(
                fields=["supporter", "topic"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="consent_one_open_per_topic",
            ),
        ]
        indexes = [
            # The send-time check: supporter_may_receive(supporter_id, topic).
            models.Index(
                fields=["supporter", "topic"],
                condition=models.Q(withdrawn_at__isnull=True, confirmed_at__isnull=False),
                name="consent_active_idx",
            )
        ]

    def __str__(self) -> str:
        return f"consent #{self.pk} ({self.topic})"


class SupporterAudit(models.Model):
    """One row for every change to a supporter, written in the same transaction as the change.

    Holds no personal values (field names, topics and languages only), so it survives erasure
    attached to the pseudonymised supporter row.
    """

    class Action(models.TextChoices):
        SIGNED_UP = "signed_up", _("signed up")
        SIGNED_UP_AGAIN = "signed_up_again", _("signed up again")
        CONFIRMATION_SENT = "confirmation_sent", _("confirmation email sent")
        CONFIRMED = "confirmed", _("confirmed")
        PREFERENCES_CHANGED = "preferences_changed", _("preferences changed")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed from everything")
        EXPORTED = "exported", _("personal data exported")
        ERASED = "erased", _("personal data erased")

    class Actor(models.TextChoices):
        SUPPORTER = "supporter", _("supporter")
        STAFF = "staff", _("staff")
        SYSTEM = "system", _("system")

    supporter = models.ForeignKey(
        Supporter, on_delete=models.SET_NULL, null=True, related_name="audit"
    )
    action = models.CharField(_("action"), max_length=30, choices=Action.choices)
    actor = models.CharField(_("by"), max_length=20, choices=Actor.choices)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    method = models.CharField(
        _("through"), max_length=20, choices=Consent.Method.choices, blank=True
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("supporter audit entry")
        verbose_name_plural = _("supporter audit entries")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} #{self.pk}"
