"""Finance pages of the back office: background exports, their progress and downloads, and
the monthly summary (issue #7); payout reconciliation is backoffice.payout_views.

Every view runs inside StaffAdminSite.admin_view (logged in, second factor verified; anyone
else is sent to the login page) and checks backoffice.view_exportjob itself, so a role without
it gets 403 at the URL whatever the menu shows. The Finance and Admin roles hold it.
Any Finance user may open and download any export: closing the books is the team's work,
and each job shows who asked for it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice import exports
from backoffice.export_forms import MonthForm, PeriodExportForm
from backoffice.models import ExportJob, ExportState
from campaign.money import euros
from donations.exports import PayoutExporter, TransactionsExporter
from donations.models import Channel, Method
from donations.selectors import monthly_summary

# One permission (Finance, Admin): seeing, asking for and fetching exports are one job.
EXPORTS = "backoffice.view_exportjob"
RECENT_JOBS = 25
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _require(request: HttpRequest) -> None:
    if not request.user.has_perm(EXPORTS):
        raise PermissionDenied(_("Finance exports are for the Finance role."))


def method_label(code: str) -> str:
    """A payment method's name; a code we do not know (a new Stripe method) as it is."""
    return str(Method(code).label) if code in Method.values else code


def channel_label(code: str) -> str:
    """Where a gift came in, by name (donate page, Payment Link, ...)."""
    return str(Channel(code).label) if code in Channel.values else code


def _download_name(job: ExportJob) -> str:
    if job.exporter == PayoutExporter.identifier:
        return f"uitbetaling-{job.params.get('payout', job.pk)}.{job.format}"
    return f"transacties-{job.params.get('since')}-tot-{job.params.get('until')}.{job.format}"


class FinanceExportViews:
    def __init__(self, site: AdminSite) -> None:
        self.site = site

    def urls(self) -> list[URLPattern]:
        wrap = self.site.admin_view
        return [
            path("finance/exports/", wrap(self.exports), name="finance_exports"),
            path("finance/exports/<int:pk>/", wrap(self.job), name="finance_export_job"),
            path(
                "finance/exports/<int:pk>/progress/",
                wrap(self.progress),
                name="finance_export_progress",
            ),
            path(
                "finance/exports/<int:pk>/download/",
                wrap(self.download),
                name="finance_export_download",
            ),
            path("finance/summary/", wrap(self.summary), name="finance_summary"),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.site.each_context(request), "title": title, **extra}

    def _job_url(self, job: ExportJob) -> str:
        return reverse("admin:finance_export_job", args=[job.pk], current_app=self.site.name)

    def exports(self, request: HttpRequest) -> HttpResponse:
        _require(request)
        # Offered: last month, the period Finance closes at the start of each month.
        this_month = timezone.localdate().replace(day=1)
        last_month = (this_month - timedelta(days=1)).replace(day=1)
        form = PeriodExportForm(
            request.POST or None,
            initial={"since": last_month, "until": this_month - timedelta(days=1)},
        )
        if request.method == "POST" and form.is_valid():
            job = exports.export_request(
                user=request.user,
                exporter=TransactionsExporter.identifier,
                params=form.params(),
                fmt=form.cleaned_data["format"],
                dialect=form.cleaned_data["dialect"],
            )
            return HttpResponseRedirect(self._job_url(job))
        jobs = ExportJob.objects.select_related("requested_by")[:RECENT_JOBS]
        context = self._context(request, _("Exports"), form=form, jobs=jobs)
        status = 400 if form.errors else 200
        return TemplateResponse(request, "backoffice/exports/index.html", context, status=status)

    def job(self, request: HttpRequest, pk: int) -> HttpResponse:
        _require(request)
        job = get_object_or_404(ExportJob.objects.select_related("requested_by"), pk=pk)
        context = self._context(
            request,
            _("Export #%(id)s") % {"id": job.pk},
            job=job,
            expired=exports.export_is_expired(job),
            finished=exports.export_progress(job).finished,
            progress_url=reverse(
                "admin:finance_export_progress", args=[job.pk], current_app=self.site.name
            ),
            download_url=reverse(
                "admin:finance_export_download", args=[job.pk], current_app=self.site.name
            ),
            file_hours=settings.EXPORT_FILE_HOURS,
        )
        return TemplateResponse(request, "backoffice/exports/job.html", context)

    def progress(self, request: HttpRequest, pk: int) -> JsonResponse:
        _require(request)
        job = get_object_or_404(ExportJob, pk=pk)
        return JsonResponse(exports.export_progress(job).as_json())

    def download(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        _require(request)
        job = get_object_or_404(ExportJob, pk=pk)
        if exports.export_is_expired(job):
            # The periodic expiry may not have run yet: the file goes now.
            exports.export_file_delete(job)
            return self._gone(request, job)
        if job.state != ExportState.DONE or not job.file.name:
            raise Http404(_("This export has no file (yet)."))
        response = FileResponse(
            job.file.open("rb"),
            as_attachment=True,
            filename=_download_name(job),
            content_type=CONTENT_TYPES[job.format],
        )
        response["Cache-Control"] = "no-store, private"
        return response

    def _gone(self, request: HttpRequest, job: ExportJob) -> HttpResponse:
        context = self._context(
            request,
            _("This download has expired"),
            job=job,
            file_hours=settings.EXPORT_FILE_HOURS,
            exports_url=reverse("admin:finance_exports", current_app=self.site.name),
        )
        return TemplateResponse(request, "backoffice/exports/gone.html", context, status=410)

    def summary(self, request: HttpRequest) -> HttpResponse:
        """The monthly summary: gifts, refunds, disputes, fees, net and payouts per method and
        campaign for one month; the same figures as that month's export, to the cent."""
        _require(request)
        last_month = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
        form = MonthForm(request.GET or {"month": last_month.strftime("%Y-%m")})
        summary = None
        if form.is_valid():
            month = form.cleaned_data["month"]
            summary = monthly_summary(month.year, month.month)
        fields = ("gifts", "refunds", "disputes", "fees", "net", "payouts")
        context = self._context(
            request,
            _("Monthly summary"),
            form=form,
            summary=summary,
            # Amounts as people write them (€ 1.262,25), methods by name (iDEAL, SEPA-incasso).
            lines=[
                {
                    "line": line,
                    "method": method_label(line.method),
                    "channel": channel_label(line.channel),
                    "sums": [euros(getattr(line, f)) for f in fields],
                }
                for line in (summary.lines if summary else [])
            ],
            totals=[euros(summary.total(f)) for f in fields] if summary else [],
        )
        return TemplateResponse(request, "backoffice/exports/summary.html", context)
