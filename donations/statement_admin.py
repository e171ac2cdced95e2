"""Back office for annual statements: start a run for a year, watch it, download any PDF.

Finance holds view/add/change on runs (backoffice/roles.py): "add" starts a run, "view" shows
its progress and the statements; every view here checks that permission itself, on GET and
POST, so a role without it gets 403 whatever the menu shows.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminIntegerFieldWidget

from campaign.money import euros
from donations import statements
from donations.admin import ReadOnlyAdmin
from donations.models import AnnualStatement, StatementRun


class StartRunForm(forms.Form):
    year = forms.IntegerField(
        label=_("Year"),
        min_value=statements.FIRST_YEAR,
        max_value=9999,
        widget=UnfoldAdminIntegerFieldWidget,
    )


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(StatementRun)
class StatementRunAdmin(ModelAdmin):
    list_display = ["year", "state", "progress", "created_by", "created_at", "finished_at"]
    list_filter = ["state", "year"]
    ordering = ["-created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a run is the record of who was sent what

    @admin.display(description=_("sent"))
    def progress(self, obj: StatementRun) -> str:
        return f"{obj.done} / {obj.total}"

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        own = [
            path(
                "<int:pk>/progress/",
                view(self.progress_view),
                name="donations_statementrun_progress",
            ),
        ]
        return own + super().get_urls()

    def _context(self, request: HttpRequest, title: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = StartRunForm(request.POST or None, initial={"year": timezone.localdate().year - 1})
        if request.method == "POST" and form.is_valid():
            try:
                run = statements.statement_run_start(
                    year=form.cleaned_data["year"], created_by=request.user
                )
            except statements.StatementError as error:
                form.add_error("year", str(error))
            else:
                self.log_addition(request, run, [{"added": {}}])
                messages.success(request, _("The statements are being prepared and sent."))
                return HttpResponseRedirect(
                    reverse("admin:donations_statementrun_change", args=[run.pk])
                )
        context = {**self._context(request, _("Send annual statements")), "form": form}
        return TemplateResponse(request, "donations/statements/start.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = get_object_or_404(StatementRun, pk=object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        progress = statements.statement_run_progress(run)
        context = {
            **self._context(request, _("Annual statements %(year)s") % {"year": run.year}),
            "run": run,
            "progress": progress,
            "progress_url": reverse("admin:donations_statementrun_progress", args=[run.pk]),
            "statements_url": reverse("admin:donations_annualstatement_changelist")
            + f"?year={run.year}",
        }
        return TemplateResponse(request, "donations/statements/run.html", context)

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(StatementRun, pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return JsonResponse(statements.statement_run_progress(run))


@admin.register(AnnualStatement)
class AnnualStatementAdmin(ReadOnlyAdmin):
    list_display = ["year", "donor_email", "donor_name", "language", "gifts", "amount", "sent_at"]
    list_display += ["pdf_link"]
    list_filter = ["year", "language"]
    search_fields = ["donor_email", "donor_name", "message_id"]
    ordering = ["-year", "donor_email"]

    @admin.display(description=_("total"), ordering="total")
    def amount(self, obj: AnnualStatement) -> str:
        return euros(obj.total)

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj: AnnualStatement) -> str:
        url = reverse("admin:donations_annualstatement_pdf", args=[obj.pk])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, _("download"))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/pdf/", view(self.pdf_view), name="donations_annualstatement_pdf"),
        ]
        return own + super().get_urls()

    def pdf_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        statement = get_object_or_404(AnnualStatement, pk=pk)
        if not self.has_view_permission(request, statement):
            raise PermissionDenied
        data = statements.donor_statement(year=statement.year, email=statement.donor_email)
        data.language = statement.language
        data.name = data.name or statement.donor_name
        return pdf_response(statements.statement_pdf(data), statements.statement_filename(data))
