"""Marketing's forms: content without unsafe markup, a segment builder, preview and schedule.

Each form validates everything before anything is written, so a refused form saves nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaign.admin_forms import SafeContentForm
from campaign.models import Supporter
from mailing.models import LANGUAGES, Mailing, Segment
from mailing.segments import (
    DONOR_STATUS_VALUES,
    LANGUAGE_VALUES,
    TOPIC_VALUES,
    SegmentFilter,
)
from mailing.services import local_send_time


class MailingForm(SafeContentForm):
    class Meta:
        model = Mailing
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        has_story = bool(cleaned.get("story"))
        if "story" in self.fields and not has_story and not cleaned.get("body_nl"):
            self.add_error(
                "body_nl", _("Choose a story, or write the content (at least in Dutch).")
            )
        return cleaned


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


class SegmentForm(forms.ModelForm):
    """A builder for the segment's filter: fields instead of JSON, validated by SegmentFilter."""

    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        choices=_choices(LANGUAGE_VALUES),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    topics = forms.MultipleChoiceField(
        label=_("Consented topics (all of)"),
        choices=_choices(TOPIC_VALUES),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    donor_status = forms.MultipleChoiceField(
        label=_("Donor status"),
        choices=_choices(DONOR_STATUS_VALUES),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    signed_up_from = forms.DateField(label=_("Signed up from"), required=False)
    signed_up_until = forms.DateField(label=_("Signed up until"), required=False)
    sources = forms.CharField(
        label=_("Sources (utm_source, comma separated)"), required=False, max_length=500
    )

    class Meta:
        model = Segment
        fields = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            current = SegmentFilter.from_json(self.instance.filter)
            for key, value in current.to_json().items():
                if key == "sources":
                    value = ", ".join(value)
                self.fields[key].initial = value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        data = {
            "languages": cleaned.get("languages") or [],
            "topics": cleaned.get("topics") or [],
            "donor_status": cleaned.get("donor_status") or [],
            "signed_up_from": d.isoformat() if (d := cleaned.get("signed_up_from")) else None,
            "signed_up_until": d.isoformat() if (d := cleaned.get("signed_up_until")) else None,
            "sources": [s.strip() for s in (cleaned.get("sources") or "").split(",") if s.strip()],
        }
        try:
            self.parsed = SegmentFilter.from_json(data)
        except ValueError as exc:
            raise forms.ValidationError(
                _("This segment cannot be used: %(reason)s."), params={"reason": exc}
            ) from exc
        # Before the model's own clean() (which re-parses it) runs in _post_clean.
        self.instance.filter = self.parsed.to_json()
        return cleaned


class PreviewForm(forms.Form):
    supporter = forms.CharField(
        label=_("Preview for supporter (email address or number)"), required=False
    )

    def clean_supporter(self) -> Supporter | None:
        value = (self.cleaned_data.get("supporter") or "").strip()
        if not value:
            return None
        found = (
            Supporter.objects.filter(pk=int(value)).first()
            if value.isdigit()
            else Supporter.objects.filter(email__iexact=value).first()
        )
        if found is None:
            raise forms.ValidationError(_("No supporter with that email address or number."))
        return found


class TestSendForm(PreviewForm):
    language = forms.ChoiceField(label=_("Language"), choices=[(v, v) for v in LANGUAGES])


class ScheduleForm(forms.Form):
    """A date and a wall-clock time in Europe/Amsterdam; refused when past or the mailing
    cannot go out (no segment, a segment that no longer parses, no content)."""

    day = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    at = forms.TimeField(
        label=_("Time (Amsterdam)"), widget=forms.TimeInput(attrs={"type": "time", "step": 1})
    )

    def __init__(self, *args: Any, mailing: Mailing, now: datetime | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.mailing = mailing
        self.now = now or timezone.now()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        mailing = self.mailing
        if mailing.state not in (Mailing.State.DRAFT, Mailing.State.SCHEDULED):
            raise forms.ValidationError(
                _("A mailing that is %(state)s cannot be scheduled again."),
                params={"state": mailing.get_state_display()},
            )
        if mailing.segment is None:
            raise forms.ValidationError(_("Choose a segment for this mailing first."))
        try:
            SegmentFilter.from_json(mailing.segment.filter)
        except ValueError as exc:
            raise forms.ValidationError(
                _("The segment “%(name)s” is not valid: %(reason)s."),
                params={"name": mailing.segment.name, "reason": exc},
            ) from exc
        if not mailing.subject_nl:
            raise forms.ValidationError(_("The mailing needs a Dutch subject."))
        if mailing.story is None and not mailing.body_nl:
            raise forms.ValidationError(_("The mailing needs a story or its own content."))
        day, at = cleaned.get("day"), cleaned.get("at")
        if day is not None and at is not None:
            send_at = local_send_time(day, at)
            if send_at <= self.now:
                self.add_error("at", _("That moment has passed: choose a time in the future."))
            cleaned["send_at"] = send_at
        return cleaned


class EnrolSegmentForm(forms.Form):
    segment = forms.ModelChoiceField(label=_("Segment"), queryset=Segment.objects.order_by("name"))

    def clean_segment(self) -> Segment:
        segment: Segment = self.cleaned_data["segment"]
        try:
            SegmentFilter.from_json(segment.filter)
        except ValueError as exc:
            raise forms.ValidationError(
                _("The segment “%(name)s” is not valid: %(reason)s."),
                params={"name": segment.name, "reason": exc},
            ) from exc
        return segment
