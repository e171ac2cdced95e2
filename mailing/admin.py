"""Marketing's workspace for mail: sequences (steps inline), mailings, segments, suppressions.

State changes go through mailing.services (the same code the API and the worker use), never by
editing `state` in a form: the list actions pause, resume or cancel a mailing. The richer
editor (preview per supporter and language, test send, scheduling, live progress) is issue #6's
next increment. Who may open these pages is the `mailing.*` permissions of the Marketing and
Admin roles (backoffice/roles.py); Finance has none, so every URL here answers it with 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action

from mailing import selectors, services
from mailing.admin_views import MailingWorkspace, SequenceWorkspace
from mailing.forms import MailingForm, SegmentForm, SequenceStepForm
from mailing.models import Mailing, Segment, Sequence, SequenceStep, Suppression


class SequenceStepInline(TabularInline):
    model = SequenceStep
    form = SequenceStepForm
    extra = 0
    ordering = ["position"]
    fields = ["position", "delay", "story", "subject_nl", "subject_en", "preheader_nl"]
    autocomplete_fields = ["story"]

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        # A new sequence starts with two empty steps: a series is more than one email.
        return 2 if obj is None else 0


@admin.register(Sequence)
class SequenceAdmin(SequenceWorkspace, ModelAdmin):
    list_display = ["name", "trigger", "topic", "ends_on_gift", "is_active", "step_count"]
    actions_detail = ["results", "enrol_segment"]
    list_filter = ["trigger", "topic", "is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [SequenceStepInline]

    @admin.display(description=_("steps"))
    def step_count(self, obj: Sequence) -> int:
        return obj.steps.count()

    @action(description=_("Enrol a segment"), permissions=["change"])
    def enrol_segment(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:mailing_sequence_enrol", kwargs={"pk": object_id})
        )

    @action(description=_("Results and step previews"), permissions=["view"])
    def results(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:mailing_sequence_results", kwargs={"pk": object_id})
        )


# Once a mailing left the draft state its content is frozen in a Message version the ledger
# points at; editing the draft fields then would only confuse what was sent.
_MAILING_CONTENT = [
    "name",
    "topic",
    "story",
    "segment",
    "subject_nl",
    "subject_en",
    "subject_b_nl",
    "subject_b_en",
    "preheader_nl",
    "preheader_en",
    "title_nl",
    "title_en",
    "body_nl",
    "body_en",
]
_MAILING_SYSTEM = ["state", "send_at", "fanned_out_at", "finished_at", "created_at"]


@admin.register(Mailing)
class MailingAdmin(MailingWorkspace, ModelAdmin):
    form = MailingForm
    actions_detail = ["open_preview", "open_schedule", "open_results"]
    list_display = ["name", "state", "send_at", "segment", "topic", "progress"]
    list_filter = ["state", "topic"]
    search_fields = ["name", "subject_nl", "subject_en"]
    date_hierarchy = "send_at"
    ordering = ["-created_at"]
    list_select_related = ["segment"]
    autocomplete_fields = ["story", "segment"]
    actions = ["pause_selected", "resume_selected", "cancel_selected"]
    fieldsets = [
        (None, {"fields": ["name", "topic", "segment", "story"]}),
        (
            _("Subject and preheader"),
            {
                "fields": [
                    ("subject_nl", "subject_en"),
                    ("subject_b_nl", "subject_b_en"),
                    ("preheader_nl", "preheader_en"),
                ]
            },
        ),
        (
            _("Content (when not a story)"),
            {"fields": [("title_nl", "title_en"), ("body_nl", "body_en")]},
        ),
        (_("Sending"), {"fields": _MAILING_SYSTEM}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.state != Mailing.State.DRAFT:
            return [*_MAILING_CONTENT, *_MAILING_SYSTEM]
        return list(_MAILING_SYSTEM)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only drafts: a sent mailing's ledger rows are the evidence of what went out.
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.state == Mailing.State.DRAFT)

    @admin.display(description=_("sent"))
    def progress(self, obj: Mailing) -> str:
        if obj.fanned_out_at is None:
            return "-"
        counts = selectors.mailing_progress(obj.pk)
        total = sum(counts.values())
        done = total - counts["queued"] - counts["sending"]
        return f"{done} / {total}"

    def _go(self, name: str, object_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse(f"admin:mailing_mailing_{name}", kwargs={"pk": object_id})
        )

    @action(description=_("Preview and test"), permissions=["view"])
    def open_preview(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        return self._go("preview", object_id)

    @action(description=_("Schedule"), permissions=["change"])
    def open_schedule(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        return self._go("schedule", object_id)

    @action(description=_("Progress and results"), permissions=["view"])
    def open_results(self, request: HttpRequest, object_id: int) -> HttpResponseRedirect:
        return self._go("results", object_id)

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Mailing], change: Any, verb: str
    ) -> None:
        count = 0
        for pk in queryset.values_list("pk", flat=True):
            change(mailing_id=pk)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d mailing %(verb)s.", "%(count)d mailings %(verb)s.", count)
            % {"count": count, "verb": verb},
            messages.SUCCESS,
        )

    @admin.action(description=_("Pause sending"), permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[Mailing]) -> None:
        self._each(request, queryset, services.mailing_pause, str(_("paused")))

    @admin.action(description=_("Resume sending"), permissions=["change"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Mailing]) -> None:
        self._each(request, queryset, services.mailing_resume, str(_("resumed")))

    @admin.action(description=_("Cancel sending"), permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Mailing]) -> None:
        self._each(request, queryset, services.mailing_cancel, str(_("cancelled")))


@admin.register(Segment)
class SegmentAdmin(ModelAdmin):
    form = SegmentForm
    list_display = ["name", "filter", "created_at"]
    ordering = ["name"]
    search_fields = ["name"]
    readonly_fields = ["supporter_count"]
    fieldsets = [
        (None, {"fields": ["name", "supporter_count"]}),
        (
            _("Who is in it"),
            {
                "fields": [
                    "languages",
                    "topics",
                    "donor_status",
                    ("signed_up_from", "signed_up_until"),
                    "sources",
                ]
            },
        ),
    ]

    @admin.display(description=_("supporters in this segment now"))
    def supporter_count(self, obj: Segment) -> str:
        if obj.pk is None:
            return "-"
        try:
            return str(selectors.segment_supporters(obj.parsed).count())
        except ValueError as exc:
            return str(exc)


@admin.register(Suppression)
class SuppressionAdmin(ModelAdmin):
    """Hashes only (no address is stored); staff add one through the service."""

    list_display = ["created_at", "reason", "detail"]
    list_filter = ["reason"]
    readonly_fields = ["email_hash", "reason", "detail", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a form for an address to hash comes with the next increment

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
