"""What Finance asks of a background export: a period or a payout, a format, a CSV dialect."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.utils.translation import gettext_lazy as _
from unfold.widgets import BASE_INPUT_CLASSES, SELECT_CLASSES

from backoffice.models import ExportDialect, ExportFormat

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

_INPUT = {"class": " ".join(BASE_INPUT_CLASSES)}
# Days finance may ask about: a date near year 9999 would overflow the period's end (a 500).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
_SELECT = {"class": " ".join(SELECT_CLASSES)}


def _date_field(label: StrOrPromise, missing: StrOrPromise) -> forms.DateField:
    return forms.DateField(
        label=label,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={**_INPUT, "type": "date"}, format="%Y-%m-%d"),
        validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)],
        error_messages={
            "required": missing,
            "invalid": _("Enter a date as YYYY-MM-DD."),
        },
    )


class _FormatFields(forms.Form):
    format = forms.ChoiceField(
        label=_("Format"),
        choices=ExportFormat.choices,
        initial=ExportFormat.CSV,
        widget=forms.Select(attrs=_SELECT),
        error_messages={"invalid_choice": _("Unknown format %(value)s: choose CSV or XLSX.")},
    )
    dialect = forms.ChoiceField(
        label=_("CSV dialect"),
        choices=ExportDialect.choices,
        initial=ExportDialect.DEFAULT,
        required=False,  # left out: the standard dialect
        widget=forms.Select(attrs=_SELECT),
        help_text=_("Dutch Excel opens semicolons and decimal commas directly. Ignored for XLSX."),
        error_messages={"invalid_choice": _("Unknown CSV dialect %(value)s.")},
    )

    def clean_dialect(self) -> str:
        return str(self.cleaned_data.get("dialect") or ExportDialect.DEFAULT)


class PeriodExportForm(_FormatFields):
    since = _date_field(
        _("First day"), _("A period needs a first day: exports are never open-ended.")
    )
    until = _date_field(
        _("Last day (included)"), _("A period needs a last day: exports are never open-ended.")
    )

    field_order = ["since", "until", "format", "dialect"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since: date | None = data.get("since")
        until: date | None = data.get("until")
        if since and until and until < since:
            self.add_error(
                "until",
                _("The period ends (%(until)s) before it starts (%(since)s).")
                % {"until": until.isoformat(), "since": since.isoformat()},
            )
        return data

    def params(self) -> dict[str, str]:
        return {
            "since": self.cleaned_data["since"].isoformat(),
            "until": self.cleaned_data["until"].isoformat(),
        }


class PayoutExportForm(_FormatFields):
    payout = forms.CharField(
        max_length=255,
        widget=forms.HiddenInput,
        validators=[RegexValidator(r"^po_\w+$", _("Not a Stripe payout id (po_...)."))],
    )

    def params(self) -> dict[str, str]:
        return {"payout": self.cleaned_data["payout"]}


class PayoutPeriodForm(forms.Form):
    """Which payouts the reconciliation page lists (GET): by the day they were booked."""

    since = _date_field(_("Booked from"), _("Enter a first day."))
    until = _date_field(_("Booked until (included)"), _("Enter a last day."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The period ends before it starts."))
        return data


class MonthForm(forms.Form):
    """Which month the summary shows (GET): YYYY-MM, as a month picker sends it."""

    month = forms.CharField(
        label=_("Month"),
        widget=forms.TextInput(attrs={**_INPUT, "type": "month"}),
        max_length=7,
    )

    def clean_month(self) -> date:
        value = self.cleaned_data["month"]
        try:
            year, month = (int(part) for part in value.split("-"))
            first = date(year, month, 1)
        except ValueError:
            raise forms.ValidationError(_("Enter a month as YYYY-MM.")) from None
        if not FIRST_DAY <= first <= LAST_DAY:
            raise forms.ValidationError(_("Enter a month as YYYY-MM."))
        return first
