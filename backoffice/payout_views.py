"""Payout reconciliation in the back office (issue 12): each payout of a period against our
ledger (donations.payouts), a page per payout listing every difference, and an export per
payout. Finance only (backoffice.view_exportjob), checked in each view as export_views does.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backoffice import exports
from backoffice.export_forms import PayoutExportForm, PayoutPeriodForm
from backoffice.export_views import _require
from donations.exports import PayoutExporter
from donations.models import TransactionKind
from donations.payouts import (
    Difference,
    Money,
    PayoutReconciliation,
    Problem,
    payout_reconciliation,
    payouts_overview,
)

PAYOUT_DAYS = 90
# The overview lists this many overdue ledger rows at most; the command lists them all.
OVERDUE_SHOWN = 200
PAYOUT_ID = re.compile(r"po_\w{1,250}")
PROBLEMS = {
    Problem.NOT_IN_LEDGER: gettext_lazy("Settled by Stripe, missing from our ledger"),
    Problem.NOT_SETTLED: gettext_lazy("In our ledger, not settled by this payout"),
    Problem.AMOUNTS_DIFFER: gettext_lazy("Amounts differ"),
}


def money(cents: int | None, currency: str = "eur") -> str:
    """'€ 1.234,56' in Dutch, '€1,234.56' in English: exact (Decimal), grouped."""
    if cents is None:
        return "—"
    text = formats.number_format(
        Decimal(int(cents)).scaleb(-2), decimal_pos=2, use_l10n=True, force_grouping=True
    )
    if currency.lower() != "eur":
        return f"{text} {currency.upper()}"
    dutch = (translation.get_language() or "").startswith("nl")
    return f"€\u00a0{text}" if dutch else f"€{text}"


def _figures(side: Money | None) -> dict[str, str]:
    if side is None:
        return {"amount": "—", "fee": "—", "net": "—"}
    return {
        "amount": money(side.amount, side.currency),
        "fee": money(side.fee, side.currency),
        "net": money(side.net, side.currency),
    }


def kind_label(kind: str) -> str:
    """A ledger kind or a Stripe balance transaction type, by name (a charge is a gift)."""
    kind = "gift" if kind in ("charge", "payment") else kind
    return str(TransactionKind(kind).label) if kind in TransactionKind.values else kind


def _difference_row(difference: Difference) -> dict[str, Any]:
    return {
        "difference": difference,
        "kind": kind_label(difference.kind),
        "problem": PROBLEMS[difference.problem],
        "stripe": _figures(difference.stripe),
        "ledger": _figures(difference.ledger),
        "rows": ", ".join(str(pk) for pk in difference.ledger_rows),
    }


def _payout_row(result: PayoutReconciliation) -> dict[str, Any]:
    currency = result.currency or "eur"
    return {
        "result": result,
        "amount": money(result.amount, currency),
        "stripe_net": money(result.stripe_net, currency),
        "ledger_net": money(result.ledger_net, currency),
    }


class PayoutViews:
    def __init__(self, site: AdminSite) -> None:
        self.site = site

    def urls(self) -> list[URLPattern]:
        wrap = self.site.admin_view
        return [
            path("finance/payouts/", wrap(self.payouts), name="finance_payouts"),
            path("finance/payouts/<str:payout>/", wrap(self.payout), name="finance_payout"),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.site.each_context(request), "title": title, **extra}

    def _export(self, request: HttpRequest) -> HttpResponse | None:
        """A POSTed export of one payout: queued (redirect to its job), or refused with a
        message on the page."""
        form = PayoutExportForm(request.POST)
        if form.is_valid():
            job = exports.export_request(
                user=request.user,
                exporter=PayoutExporter.identifier,
                params=form.params(),
                fmt=form.cleaned_data["format"],
                dialect=form.cleaned_data["dialect"],
            )
            url = reverse("admin:finance_export_job", args=[job.pk], current_app=self.site.name)
            return HttpResponseRedirect(url)
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return None

    def payouts(self, request: HttpRequest) -> HttpResponse:
        _require(request)
        if request.method == "POST" and (queued := self._export(request)):
            return queued
        today = timezone.localdate()
        period = PayoutPeriodForm(
            request.GET or {"since": today - timedelta(days=PAYOUT_DAYS), "until": today}
        )
        overview = None
        if period.is_valid():
            overview = payouts_overview(
                since=period.cleaned_data["since"], until=period.cleaned_data["until"]
            )
        context = self._context(
            request,
            _("Payouts"),
            period=period,
            overview=overview,
            rows=[_payout_row(r) for r in overview.payouts] if overview else [],
            overdue=[_difference_row(d) for d in overview.not_paid_out[:OVERDUE_SHOWN]]
            if overview
            else [],
            overdue_hidden=max(len(overview.not_paid_out) - OVERDUE_SHOWN, 0) if overview else 0,
        )
        status = 400 if period.errors else 200
        return TemplateResponse(request, "backoffice/exports/payouts.html", context, status=status)

    def payout(self, request: HttpRequest, payout: str) -> HttpResponse:
        """One payout: its figures and every difference between Stripe and our ledger."""
        _require(request)
        if not PAYOUT_ID.fullmatch(payout):
            raise Http404(_("Not a Stripe payout id (po_...)."))
        result = payout_reconciliation(payout)
        if result.lines == 0 and not result.differences:
            raise Http404(_("No payout %(payout)s is known.") % {"payout": payout})
        context = self._context(
            request,
            _("Payout %(payout)s") % {"payout": payout},
            row=_payout_row(result),
            differences=[_difference_row(d) for d in result.differences],
            payouts_url=reverse("admin:finance_payouts", current_app=self.site.name),
        )
        return TemplateResponse(request, "backoffice/exports/payout.html", context)
