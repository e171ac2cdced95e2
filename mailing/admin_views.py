"""Marketing's workspace pages for a mailing or a sequence step: preview, test send, schedule,
live progress and results. Mixed into the ModelAdmins (mailing/admin.py) so every page sits
behind the admin's login, second factor and the model's permissions: viewing needs the view
permission, anything that sends or schedules needs the change permission (a Finance user has
neither and gets 403 on each URL).
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.charts import Bar, columns, horizontal_bars
from campaign.money import euros
from mailing import complaints, engagement, previews, results, selectors, services
from mailing.forms import EnrolSegmentForm, PreviewForm, ScheduleForm, TestSendForm
from mailing.models import (
    LANGUAGES,
    Delivery,
    Enrollment,
    Mailing,
    Message,
    Sequence,
    SequenceStep,
)

# The preview frame shows the email's own HTML (inline styles, no script): it may be framed by
# our own pages only, and the sandboxed iframe runs nothing.
_FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'"
)


def _percent(fraction: float) -> str:
    """0.0031 -> "0.31%" ("0,31%" in Dutch): complaint rates need two decimals."""
    return f"{number_format(round(fraction * 100, 2), 2)}%"


def progress_payload(mailing: Mailing) -> dict[str, Any]:
    counts = selectors.mailing_progress(mailing.pk)
    total = sum(counts.values())
    done = counts["sent"] + counts["failed"] + counts["skipped"]
    finished = mailing.state in (Mailing.State.FINISHED, Mailing.State.CANCELLED)
    label = _("%(sent)d sent, %(failed)d failed, %(skipped)d skipped · %(state)s") % {
        "sent": counts["sent"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
        "state": mailing.get_state_display(),
    }
    # The page's "State" header and the live bar's label both read state_label from this one
    # payload (progress.js refreshes [data-progress-state]): they cannot disagree.
    return {
        "done": done,
        "total": total,
        "state": mailing.state,
        "state_label": mailing.get_state_display(),
        "finished": finished,
        "label": label,
        "counts": counts,
    }


def _funnel_chart(funnel: results.Funnel) -> Any:
    return horizontal_bars(
        _("From sent to gift"),
        [
            Bar(_("sent"), funnel.sent),
            Bar(_("delivered"), funnel.delivered),
            Bar(_("clicked"), funnel.clicked),
            Bar(_("gave"), funnel.gave),
        ],
    )


def _gifts_charts(days: list[results.Day]) -> tuple[Any, Any]:
    return (
        columns(_("Gifts per day"), [Bar(d.day.strftime("%d-%m"), d.gifts) for d in days]),
        columns(
            _("Euros per day"),
            [Bar(d.day.strftime("%d-%m"), d.euros_cents) for d in days],
            show=euros,
        ),
    )


def results_context(messages_qs: QuerySet[Message]) -> dict[str, Any]:
    funnel = results.funnel(messages_qs)
    days = results.gifts_per_day(messages_qs)
    gifts_chart, euros_chart = _gifts_charts(days)
    return {
        "funnel": funnel,
        "funnel_euros": euros(funnel.euros_cents),
        "funnel_chart": _funnel_chart(funnel),
        "days": [(d, euros(d.euros_cents)) for d in days],
        "gifts_chart": gifts_chart,
        "euros_chart": euros_chart,
    }


class WorkspaceMixin:
    """Preview, test send and results pages for a content source (a Mailing or a step)."""

    if TYPE_CHECKING:  # provided by ModelAdmin, which these mixins always come before
        admin_site: Any
        model: Any

        def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool: ...
        def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool: ...
        def get_urls(self) -> list[Any]: ...

    def each_context_for(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
        }

    def _require(self, request: HttpRequest, *, change: bool) -> None:
        allowed = (
            self.has_change_permission(request) if change else self.has_view_permission(request)
        )
        if not allowed:
            raise PermissionDenied

    def _preview_page(
        self, request: HttpRequest, source: Mailing | SequenceStep, url_prefix: str, **ids: Any
    ) -> HttpResponse:
        """`url_prefix` names this source's pages: <prefix>_frame and <prefix>_test_send."""
        self._require(request, change=False)
        form = PreviewForm(request.GET or None)
        supporter = form.cleaned_data["supporter"] if form.is_valid() else None
        shown = []
        for language in LANGUAGES:
            preview = previews.render_preview(source, language=language, supporter=supporter)
            query = f"?supporter={supporter.pk}" if supporter else ""
            frame = reverse(f"admin:{url_prefix}_frame", kwargs={**ids, "language": language})
            shown.append({"preview": preview, "frame_url": frame + query})
        context = {
            **self.each_context_for(request, _("Preview: %(name)s") % {"name": source}),
            "source": source,
            "form": form,
            "test_form": TestSendForm(
                initial={"supporter": supporter.pk if supporter else "", "language": "nl"}
            ),
            "shown": shown,
            "supporter": supporter,
            "can_send": self.has_change_permission(request),
            "test_send_url": reverse(f"admin:{url_prefix}_test_send", kwargs=ids),
        }
        return TemplateResponse(request, "mailing/admin/preview.html", context)

    def _preview_frame(
        self, request: HttpRequest, source: Mailing | SequenceStep, language: str
    ) -> HttpResponse:
        self._require(request, change=False)
        if language not in LANGUAGES:
            raise PermissionDenied
        form = PreviewForm(request.GET or None)
        supporter = form.cleaned_data["supporter"] if form.is_valid() else None
        preview = previews.render_preview(source, language=language, supporter=supporter)
        response = HttpResponse(preview.html, content_type="text/html; charset=utf-8")
        # Set here, so neither the CSP nor the X-Frame-Options middleware replaces them.
        response["Content-Security-Policy"] = _FRAME_CSP
        response["X-Frame-Options"] = "SAMEORIGIN"
        return response

    def _test_send(
        self, request: HttpRequest, source: Mailing | SequenceStep, back: str
    ) -> HttpResponse:
        self._require(request, change=True)
        address = str(getattr(request.user, "email", ""))
        form = TestSendForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
            return HttpResponseRedirect(back)
        try:
            previews.send_test(
                source,
                to_address=address,
                language=form.cleaned_data["language"],
                supporter=form.cleaned_data["supporter"],
            )
        except ValueError as exc:
            messages.error(request, str(exc))
        except (smtplib.SMTPException, OSError) as exc:
            messages.error(
                request, _("The mail server did not take the test: %(error)s") % {"error": exc}
            )
        else:
            messages.success(
                request,
                _("Test sent to %(address)s (not counted as a send).") % {"address": address},
            )
        return HttpResponseRedirect(back)


_SKIP_REASONS = dict(Delivery.Reason.choices)
_CONTROLS: dict[str, Callable[..., Mailing]] = {
    "pause": services.mailing_pause,
    "resume": services.mailing_resume,
    "cancel": services.mailing_cancel,
}


class MailingWorkspace(WorkspaceMixin):
    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        own = [
            path("<int:pk>/preview/", view(self.preview_view), name="mailing_mailing_preview"),
            path(
                "<int:pk>/preview/<str:language>/frame/",
                view(self.preview_frame_view),
                name="mailing_mailing_frame",
            ),
            path(
                "<int:pk>/test-send/",
                view(require_POST(self.test_send_view)),
                name="mailing_mailing_test_send",
            ),
            path("<int:pk>/schedule/", view(self.schedule_view), name="mailing_mailing_schedule"),
            path("<int:pk>/results/", view(self.results_view), name="mailing_mailing_results"),
            path(
                "<int:pk>/control/",
                view(require_POST(self.control_view)),
                name="mailing_mailing_control",
            ),
            path(
                "<int:pk>/progress.json",
                view(self.progress_view),
                name="mailing_mailing_progress",
            ),
        ]
        return own + super().get_urls()

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        mailing = get_object_or_404(Mailing, pk=pk)
        return self._preview_page(request, mailing, "mailing_mailing", pk=pk)

    def preview_frame_view(self, request: HttpRequest, pk: int, language: str) -> HttpResponse:
        return self._preview_frame(request, get_object_or_404(Mailing, pk=pk), language)

    def test_send_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        mailing = get_object_or_404(Mailing, pk=pk)
        back = reverse("admin:mailing_mailing_preview", kwargs={"pk": pk})
        return self._test_send(request, mailing, back)

    def schedule_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require(request, change=True)
        mailing = get_object_or_404(Mailing, pk=pk)
        form = ScheduleForm(request.POST or None, mailing=mailing)
        if request.method == "POST" and form.is_valid():
            try:
                services.mailing_schedule(
                    mailing_id=pk,
                    send_at=form.cleaned_data["send_at"],
                    include_sunset=form.cleaned_data["include_sunset"],
                )
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                local = timezone.localtime(form.cleaned_data["send_at"], services.AMSTERDAM)
                messages.success(
                    request,
                    _("Scheduled for %(when)s (Amsterdam time).")
                    % {"when": local.strftime("%d-%m-%Y %H:%M")},
                )
                return HttpResponseRedirect(
                    reverse("admin:mailing_mailing_results", kwargs={"pk": pk})
                )
        recipients = left_out = None
        if mailing.segment is not None:
            try:
                segment = mailing.segment.parsed
            except ValueError:
                segment = None
            if segment is not None:
                recipients = selectors.recipients(segment=segment, topic=mailing.topic).count()
                # Never silent: how many the sunset rule leaves out, before anyone schedules.
                left_out = engagement.sunset_left_out_count(
                    segment=segment, topic=mailing.topic, now=timezone.now()
                )
        context = {
            **self.each_context_for(request, _("Schedule: %(name)s") % {"name": mailing}),
            "mailing": mailing,
            "form": form,
            "recipients": recipients,
            "sunset_left_out": left_out,
            "sunset_days": settings.MAILING_SUNSET_DAYS,
        }
        return TemplateResponse(request, "mailing/admin/schedule.html", context)

    def results_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require(request, change=False)
        mailing = get_object_or_404(Mailing, pk=pk)
        progress = progress_payload(mailing)
        rate = complaints.mailing_complaint_rate(pk)
        context = {
            **self.each_context_for(request, _("Results: %(name)s") % {"name": mailing}),
            "mailing": mailing,
            "progress": progress,
            "progress_url": reverse("admin:mailing_mailing_progress", kwargs={"pk": pk}),
            "control_url": reverse("admin:mailing_mailing_control", kwargs={"pk": pk}),
            "can_control": self.has_change_permission(request),
            "skip_reasons": [
                (reason, _SKIP_REASONS.get(reason, reason), n)
                for reason, n in sorted(selectors.mailing_skip_reasons(pk).items())
            ],
            "complaint_rate": rate,
            "complaint_percent": _percent(rate.rate),
            "stopped_for_complaints": mailing.stopped_reason == Mailing.StopReason.COMPLAINTS,
            "warn_percent": _percent(settings.MAILING_COMPLAINT_WARN_RATE),
            "stop_percent": _percent(settings.MAILING_COMPLAINT_STOP_RATE),
            "min_delivered": number_format(
                settings.MAILING_COMPLAINT_MIN_DELIVERED, force_grouping=True
            ),
            **results_context(Message.objects.filter(mailing=mailing)),
        }
        return TemplateResponse(request, "mailing/admin/results.html", context)

    def control_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Pause, resume or cancel from the results page (POST: these change what is sent).

        The page's script asks for JSON and updates itself in place (state, buttons, bar); a
        plain form post, without script, gets the results page back with the same message."""
        self._require(request, change=True)
        mailing = get_object_or_404(Mailing, pk=pk)
        do = str(request.POST.get("do", ""))
        change = _CONTROLS.get(do)
        if do == "resume_despite_complaints":
            # Deliberate: the box that says staff looked at the complaints must be ticked.
            if request.POST.get("confirm") != "yes":
                messages.error(
                    request, _("Tick the box to confirm you resume despite the complaint rate.")
                )
                return HttpResponseRedirect(
                    reverse("admin:mailing_mailing_results", kwargs={"pk": pk})
                )
            change = partial(services.mailing_resume, waive_complaint_stop=True)
        if change is None:
            level, text = messages.ERROR, _("Unknown action.")
        else:
            before = mailing.state
            after = change(mailing_id=pk).state
            if after == before:
                level = messages.WARNING
                text = _("Nothing changed: the mailing is %(state)s.") % {
                    "state": mailing.get_state_display()
                }
            else:
                level = messages.SUCCESS
                text = _("The mailing is now %(state)s.") % {"state": Mailing.State(after).label}
        if request.headers.get("Accept") == "application/json":
            payload = progress_payload(Mailing.objects.get(pk=pk))
            return JsonResponse(
                {**payload, "message": text, "level": messages.DEFAULT_TAGS[level]},
                status=400 if change is None else 200,
            )
        messages.add_message(request, level, text)
        return HttpResponseRedirect(reverse("admin:mailing_mailing_results", kwargs={"pk": pk}))

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require(request, change=False)
        return JsonResponse(progress_payload(get_object_or_404(Mailing, pk=pk)))


_REASONS = dict(Enrollment.ExitReason.choices)


class SequenceWorkspace(WorkspaceMixin):
    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        own = [
            path(
                "step/<int:step>/preview/",
                view(self.step_preview_view),
                name="mailing_sequence_step_preview",
            ),
            path(
                "step/<int:step>/preview/<str:language>/frame/",
                view(self.step_frame_view),
                name="mailing_sequence_step_frame",
            ),
            path(
                "step/<int:step>/test-send/",
                view(require_POST(self.step_test_send_view)),
                name="mailing_sequence_step_test_send",
            ),
            path("<int:pk>/results/", view(self.results_view), name="mailing_sequence_results"),
            path("<int:pk>/enrol/", view(self.enrol_view), name="mailing_sequence_enrol"),
        ]
        return own + super().get_urls()

    def step_preview_view(self, request: HttpRequest, step: int) -> HttpResponse:
        source = get_object_or_404(SequenceStep.objects.select_related("sequence"), pk=step)
        return self._preview_page(request, source, "mailing_sequence_step", step=step)

    def step_frame_view(self, request: HttpRequest, step: int, language: str) -> HttpResponse:
        return self._preview_frame(request, get_object_or_404(SequenceStep, pk=step), language)

    def step_test_send_view(self, request: HttpRequest, step: int) -> HttpResponse:
        source = get_object_or_404(SequenceStep, pk=step)
        back = reverse("admin:mailing_sequence_step_preview", kwargs={"step": step})
        return self._test_send(request, source, back)

    def results_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require(request, change=False)
        sequence = get_object_or_404(Sequence, pk=pk)
        steps = []
        for step in sequence.steps.order_by("position"):
            steps.append(
                {
                    "step": step,
                    "preview_url": reverse(
                        "admin:mailing_sequence_step_preview", kwargs={"step": step.pk}
                    ),
                    **results_context(Message.objects.filter(step=step)),
                }
            )
        enrolment = results.sequence_enrolment(sequence.pk)
        context = {
            **self.each_context_for(request, _("Results: %(name)s") % {"name": sequence}),
            "sequence": sequence,
            "steps": steps,
            "enrolment": enrolment,
            "waiting": [(s["step"], enrolment.waiting.get(s["step"].position, 0)) for s in steps],
            "exited": [
                (_REASONS.get(reason, reason or _("unknown")), n)
                for reason, n in enrolment.exited.items()
            ],
            "next_due": (
                timezone.localtime(enrolment.next_due, services.AMSTERDAM)
                if enrolment.next_due
                else None
            ),
        }
        return TemplateResponse(request, "mailing/admin/sequence_results.html", context)

    def enrol_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Start the sequence for a segment: choose it, see how many it holds, confirm."""
        self._require(request, change=True)
        sequence = get_object_or_404(Sequence, pk=pk)
        form = EnrolSegmentForm(request.POST or request.GET or None)
        count = None
        if form.is_bound and form.is_valid():
            segment = form.cleaned_data["segment"]
            if request.method == "POST":
                try:
                    enrolled = services.sequence_enrol_segment(
                        sequence_id=pk, segment=segment.parsed
                    )
                except ValueError as exc:
                    form.add_error(None, str(exc))
                else:
                    messages.success(
                        request,
                        _("%(count)d supporters enrolled in %(sequence)s.")
                        % {"count": enrolled, "sequence": sequence},
                    )
                    return HttpResponseRedirect(
                        reverse("admin:mailing_sequence_results", kwargs={"pk": pk})
                    )
            count = selectors.recipients(segment=segment.parsed, topic=sequence.topic).count()
        context = {
            **self.each_context_for(request, _("Enrol a segment: %(name)s") % {"name": sequence}),
            "sequence": sequence,
            "form": form,
            "count": count,
        }
        return TemplateResponse(request, "mailing/admin/enrol.html", context)
