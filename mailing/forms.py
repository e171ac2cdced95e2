"""Marketing's forms: content without unsafe markup, a segment builder, preview and schedule.

Each form validates everything before anything is written, so a refused form saves nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminSingleTimeWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from campaign.admin_forms import SafeContentForm
from campaign.models import Language, Supporter, Topic
from mailing.models import Mailing, Segment, SequenceStep
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Scheduling refuses a mailing without one: asked for (and marked required) up front.
        if "segment" in self.fields:
            self.fields["segment"].required = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        has_story = bool(cleaned.get("story"))
        if "story" in self.fields and not has_story and not cleaned.get("body_nl"):
            self.add_error(
                "body_nl", _("Choose a story, or write the content (at least in Dutch).")
            )
        return cleaned


# Option labels people read, for the codes the segment filter stores. The languages by their
# own names (as supporters chose them), the topics as the sign-up form names them.
LANGUAGE_LABELS = dict(Language.choices)
TOPIC_LABELS = dict(Topic.choices)
DONOR_STATUS_LABELS = {
    "never": _("never gave"),
    "one_off": _("gave once"),
    "monthly": _("gives monthly"),
}


def _choices(values: tuple[str, ...], labels: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(v, labels.get(v, v)) for v in values]


def _checkboxes() -> forms.Widget:
    return UnfoldAdminCheckboxSelectMultipleWidget()


def _date() -> forms.Widget:
    return UnfoldAdminSingleDateWidget(attrs={"type": "date"}, format="%Y-%m-%d")


# A sequence step's wait after the previous one (or after enrolment): the delays marketing
# uses, instead of a raw "days hh:mm:ss" duration.
DELAYS = [
    (timedelta(0), _("immediately")),
    (timedelta(hours=1), _("after 1 hour")),
    (timedelta(hours=6), _("after 6 hours")),
    (timedelta(days=1), _("after 1 day")),
    (timedelta(days=2), _("after 2 days")),
    (timedelta(days=3), _("after 3 days")),
    (timedelta(days=5), _("after 5 days")),
    (timedelta(weeks=1), _("after 1 week")),
    (timedelta(weeks=2), _("after 2 weeks")),
    (timedelta(weeks=3), _("after 3 weeks")),
    (timedelta(weeks=4), _("after 4 weeks")),
    (timedelta(weeks=6), _("after 6 weeks")),
    (timedelta(weeks=8), _("after 8 weeks")),
]


def delay_label(delay: timedelta) -> str:
    """A delay not in DELAYS (made through the API, say) in days and hours."""
    days, hours = delay.days, delay.seconds // 3600
    return _("after %(days)s and %(hours)s") % {
        "days": ngettext("%(n)d day", "%(n)d days", days) % {"n": days},
        "hours": ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours},
    }


def _seconds(value: Any) -> str:
    return str(int(value.total_seconds())) if isinstance(value, timedelta) else str(value or 0)


class DelayField(forms.TypedChoiceField):
    """A choice of delays; the option values are whole seconds."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("max_length", None)
        super().__init__(
            choices=[(_seconds(d), label) for d, label in DELAYS],
            coerce=lambda value: timedelta(seconds=int(value)),
            widget=UnfoldAdminSelectWidget,
            **kwargs,
        )

    def prepare_value(self, value: Any) -> str:
        return _seconds(value)

    def valid_value(self, value: Any) -> bool:
        # Only whole seconds within a year: the stored delay of an existing step too.
        text = str(value)
        return text.isdigit() and int(text) <= 366 * 86400


class SequenceStepForm(SafeContentForm):
    delay = DelayField(label=_("delay"))

    class Meta:
        model = SequenceStep
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.delay if self.instance.pk else None
        field = self.fields["delay"]
        assert isinstance(field, DelayField)
        if current is not None and current not in dict(DELAYS):
            field.choices = [
                *((_seconds(d), label) for d, label in DELAYS),
                (_seconds(current), delay_label(current)),
            ]


class SegmentForm(forms.ModelForm):
    """A builder for the segment's filter: fields instead of JSON, validated by SegmentFilter."""

    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        choices=_choices(LANGUAGE_VALUES, LANGUAGE_LABELS),
        required=False,
        widget=_checkboxes(),
    )
    topics = forms.MultipleChoiceField(
        label=_("Consented topics (all of)"),
        choices=_choices(TOPIC_VALUES, TOPIC_LABELS),
        required=False,
        widget=_checkboxes(),
    )
    donor_status = forms.MultipleChoiceField(
        label=_("Donor status"),
        choices=_choices(DONOR_STATUS_VALUES, DONOR_STATUS_LABELS),
        required=False,
        widget=_checkboxes(),
    )
    signed_up_from = forms.DateField(label=_("Signed up from"), required=False, widget=_date())
    signed_up_until = forms.DateField(label=_("Signed up until"), required=False, widget=_date())
    sources = forms.CharField(
        label=_("Sources (utm_source, comma separated)"),
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
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
        label=_("Preview for supporter (email address or number)"),
        required=False,
        max_length=254,
        widget=UnfoldAdminTextInputWidget,
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
    language = forms.ChoiceField(
        label=_("Language"), choices=Language.choices, widget=UnfoldAdminSelectWidget
    )


class ScheduleForm(forms.Form):
    """A date and a wall-clock time in Europe/Amsterdam; refused when past or the mailing
    cannot go out (no segment, a segment that no longer parses, no content)."""

    day = forms.DateField(label=_("Date"), widget=_date())
    at = forms.TimeField(
        label=_("Time (Amsterdam)"),
        widget=UnfoldAdminSingleTimeWidget(attrs={"type": "time", "step": 1}, format="%H:%M:%S"),
    )
    include_sunset = forms.BooleanField(
        label=_("Also send to the people the sunset rule leaves out (a re-engagement mailing)"),
        required=False,
        widget=UnfoldBooleanWidget,
    )

    def __init__(self, *args: Any, mailing: Mailing, now: datetime | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.mailing = mailing
        self.now = now or timezone.now()
        self.fields["include_sunset"].initial = mailing.include_sunset

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
    segment = forms.ModelChoiceField(
        label=_("Segment"),
        queryset=Segment.objects.order_by("name"),
        widget=UnfoldAdminSelectWidget,
    )

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
