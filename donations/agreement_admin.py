"""Back office for ANBI periodic-gift agreements: record one for a monthly gift, print it to
sign, mark it signed, and see which fall short of the agreed yearly amount.

Creating goes through donations.agreements (transaction number, RSIN and donor snapshots);
once made, the terms are read-only: a different amount or term is a new agreement.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action
from unfold.widgets import UnfoldAdminDecimalFieldWidget

from campaign.money import euros
from donations import agreements
from donations.models import AgreementState, PeriodicGiftAgreement, RecurringDonation
from donations.statement_admin import pdf_response
from donations.statements import gifts_kept_in_year

SHORT_IN = "short_in"


class AgreementAddForm(forms.ModelForm):
    yearly_euros = forms.DecimalField(
        label=_("Yearly amount in euros"),
        min_value=Decimal("0.01"),
        max_value=Decimal("1000000"),
        decimal_places=2,
        # Declared here, not on the model: unfold's widget by hand (bordered, like the rest).
        widget=UnfoldAdminDecimalFieldWidget,
    )

    class Meta:
        model = PeriodicGiftAgreement
        fields = [
            "recurring",
            "start_year",
            "term_years",
            "donor_name",
            "donor_address",
            "donor_birth_date",
            "donor_birth_place",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["donor_name"].required = False
        self.fields["donor_name"].help_text = _("Empty: the name on the monthly gift.")
        self.fields["start_year"].initial = timezone.localdate().year
        self.fields["term_years"].initial = 5

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        recurring: RecurringDonation | None = data.get("recurring")
        if recurring is None or self.errors:
            return data
        data["yearly_amount"] = int(data["yearly_euros"] * 100)
        try:
            agreements.agreement_check(
                recurring=recurring,
                yearly_amount=data["yearly_amount"],
                start_year=data["start_year"],
                term_years=data["term_years"],
            )
        except agreements.AgreementError as error:
            raise forms.ValidationError(str(error)) from None
        return data


class ShortInFilter(admin.SimpleListFilter):
    title = _("gifts short of the agreement in")
    parameter_name = SHORT_IN

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        this_year = timezone.localdate().year
        return [(str(year), str(year)) for year in range(this_year, this_year - 4, -1)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        short = agreements.agreements_short(year=int(self.value() or 0))
        return queryset.filter(pk__in=[s.agreement.pk for s in short])


def shortfall_year(request: HttpRequest) -> int:
    """The year the list checks: the one filtered on, else the last complete year."""
    value = request.GET.get(SHORT_IN, "")
    return int(value) if value.isdigit() else timezone.localdate().year - 1


@admin.register(PeriodicGiftAgreement)
class PeriodicGiftAgreementAdmin(ModelAdmin):
    list_display = [
        "transaction_number",
        "donor_name",
        "amount",
        "start_year",
        "term_years",
        "state",
        "shortfall",
        "pdf_link",
    ]
    list_filter = [ShortInFilter, "state", "start_year"]
    search_fields = ["transaction_number", "donor_name", "donor_email", "mandate_reference"]
    ordering = ["-created_at"]
    autocomplete_fields = ["recurring"]
    actions = ["mark_signed", "cancel"]
    editable_after_creation = ("donor_address", "donor_birth_date", "donor_birth_place")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a signed agreement is a fiscal record; cancel instead

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = AgreementAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [
            "amount" if f.name == "yearly_amount" else f.name
            for f in self.model._meta.fields
            if f.name not in self.editable_after_creation and f.name != "id"
        ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                *AgreementAddForm.Meta.fields[:1],
                "yearly_euros",
                *AgreementAddForm.Meta.fields[1:],
            ]
        # The yearly amount in euros, not the stored cents.
        fields = super().get_fields(request, obj)
        return ["amount" if name == "yearly_amount" else name for name in fields]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        recurring = data["recurring"]
        created = agreements.agreement_create(
            recurring=recurring,
            yearly_amount=data["yearly_amount"],
            start_year=data["start_year"],
            term_years=data["term_years"],
            donor=agreements.DonorDetails(
                name=data.get("donor_name") or recurring.donor_name,
                email=recurring.donor_email,
                address=data.get("donor_address", ""),
                birth_date=data.get("donor_birth_date"),
                birth_place=data.get("donor_birth_place", ""),
            ),
            created_by=request.user,
        )
        # The admin goes on with `obj` (log entry, redirect): make it the row just created.
        obj.pk = created.pk
        obj.refresh_from_db()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        year = shortfall_year(request)
        received = (
            gifts_kept_in_year(year)
            .filter(donation__recurring=OuterRef("recurring"))
            .values("donation__recurring")
            .annotate(total=Sum("kept"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                checked_year=Value(year, output_field=IntegerField()),
                received=Coalesce(Subquery(received), Value(0)),
            )
        )

    @admin.display(description=_("yearly amount"), ordering="yearly_amount")
    def amount(self, obj: PeriodicGiftAgreement) -> str:
        return euros(obj.yearly_amount)

    @admin.display(description=_("gifts in the year checked"))
    def shortfall(self, obj: PeriodicGiftAgreement) -> str:
        year = getattr(obj, "checked_year", None)
        received = int(getattr(obj, "received", 0) or 0)
        in_force = (
            year is not None
            and obj.state != AgreementState.CANCELLED
            and obj.start_year <= year <= obj.end_year
        )
        if not in_force:
            return "—"
        text = f"{year}: {euros(received)}"
        if received < obj.yearly_amount:
            return format_html(
                '<span class="bg-red-100 text-red-700 px-2 py-0.5 rounded-default text-xs '
                'font-semibold" data-shortfall="{}">{} · {}</span>',
                obj.transaction_number,
                text,
                _("short of the agreement"),
            )
        return text

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj: PeriodicGiftAgreement) -> str:
        url = reverse("admin:donations_periodicgiftagreement_pdf", args=[obj.pk])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, _("to sign"))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/pdf/", view(self.pdf_view), name="donations_periodicgiftagreement_pdf"),
        ]
        return own + super().get_urls()

    def pdf_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        agreement = get_object_or_404(PeriodicGiftAgreement, pk=pk)
        if not self.has_view_permission(request, agreement):
            raise PermissionDenied
        content = agreements.agreement_pdf(agreement)
        return pdf_response(content, agreements.agreement_filename(agreement))

    @action(description=_("Mark as signed (today)"), permissions=["change"])
    def mark_signed(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        signed = 0
        for agreement in queryset.filter(state=AgreementState.DRAFT):
            agreements.agreement_sign(agreement=agreement)
            signed += 1
        messages.success(request, _("%(count)s agreement(s) marked as signed.") % {"count": signed})

    @action(description=_("Cancel"), permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for agreement in queryset.exclude(state=AgreementState.CANCELLED):
            agreements.agreement_cancel(agreement=agreement)
        messages.success(request, _("Agreements cancelled."))
