"""Back office for supporters: read-only records, and the AVG actions staff run on request.

Staff never edit a supporter's consents or profile by hand: every change goes through a service
so it is audited. Export and erase need their own permissions (Supporter.Meta.permissions).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline

from campaign import services
from campaign.models import Consent, ConsentText, Supporter, SupporterAudit

Actor = SupporterAudit.Actor


def staff_member(entry: SupporterAudit) -> str:
    # As text: Django links a read-only foreign key even for who may not open staff accounts
    # (Marketing), and that link answers 403.
    return str(entry.staff_user) if entry.staff_user_id else "—"


class ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields = ("topic", "wording", "method", "given_at", "confirmed_at", "withdrawn_at", "ip")
    readonly_fields = fields

    @admin.display(description=_("wording"))
    def wording(self, obj: Consent) -> str:
        # The foreign key has no verbose name of its own: it would read "Text" in Dutch too.
        return str(obj.text)


class AuditInline(ReadOnlyInline):
    model = SupporterAudit
    # The supporter's own record of consent (exported with their data); the staff-wide audit
    # log is a page of its own (backoffice/audit_admin.py).
    verbose_name = _("consent history entry")
    verbose_name_plural = _("consent history")
    fields = ("created_at", "action", "actor", "method", "staff", "details")
    readonly_fields = fields

    @admin.display(description=_("staff member"))
    def staff(self, obj: SupporterAudit) -> str:
        return staff_member(obj)


@admin.register(Supporter)
class SupporterAdmin(ModelAdmin):
    list_display = ["pk", "email", "first_name", "language", "status", "created_at", "confirmed_at"]
    list_filter = ["status", "language"]
    search_fields = ["email"]
    ordering = ["-created_at"]
    inlines = [ConsentInline, AuditInline]
    actions = ["unsubscribe_selected", "export_selected", "erase_selected"]
    exclude = ["link_secret", "confirmation_nonce"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # supporters sign up themselves (double opt-in) or come through an import

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting would skip the finance side: use "erase" instead

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Supporter._meta.fields if f.name not in self.exclude]

    def has_export_supporter_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaign.export_supporter_data")

    def has_erase_supporter_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaign.erase_supporter")

    @admin.action(description=_("Unsubscribe from all emails"), permissions=["change"])
    def unsubscribe_selected(self, request: HttpRequest, queryset: QuerySet[Supporter]) -> None:
        count = sum(
            services.supporter_unsubscribe(
                supporter_id=pk,
                method=Consent.Method.STAFF,
                actor=Actor.STAFF,
                staff_user_id=request.user.pk,
            )
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d supporter unsubscribed.", "%(count)d supporters unsubscribed.", count
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Export personal data (JSON)"), permissions=["export_supporter_data"]
    )
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Supporter]) -> HttpResponse:
        documents = [
            services.supporter_data_export(
                supporter_id=pk,
                actor=Actor.STAFF,
                method=Consent.Method.STAFF,
                staff_user_id=request.user.pk,
            )
            for pk in queryset.filter(erased_at__isnull=True).values_list("pk", flat=True)
        ]
        body = json.dumps(documents, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="supporter-export.json"'
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Erase personal data"), permissions=["erase_supporter"])
    def erase_selected(
        self, request: HttpRequest, queryset: QuerySet[Supporter]
    ) -> HttpResponse | None:
        # Like Django's delete action: a confirmation page first, then the same POST plus "post".
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Erase personal data?"),
                "opts": self.model._meta,
                "queryset": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/campaign/supporter/erase_confirmation.html", context
            )
        erased = [
            services.supporter_erase(
                supporter_id=pk,
                actor=Actor.STAFF,
                method=Consent.Method.STAFF,
                staff_user_id=request.user.pk,
            )
            for pk in queryset.values_list("pk", flat=True)
        ]
        count = len([p for p in erased if p])
        self.message_user(
            request,
            ngettext("%(count)d supporter erased.", "%(count)d supporters erased.", count)
            % {"count": count},
            messages.SUCCESS,
        )
        return None


class ConsentTextForm(ModelForm):
    class Meta:
        model = ConsentText
        fields = ["topic", "language", "text"]


@admin.register(ConsentText)
class ConsentTextAdmin(ModelAdmin):
    """New wording is a new version; a version in use is read-only (and frozen in PostgreSQL)."""

    form = ConsentTextForm
    list_display = ["topic", "language", "version", "first_used_at", "text"]
    list_filter = ["topic", "language"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.is_used:
            return ["topic", "language", "version", "text", "first_used_at"]
        if obj is not None:
            return ["topic", "language", "version"]
        return []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or not obj.is_used

    def save_model(self, request: HttpRequest, obj: ConsentText, form: Any, change: bool) -> None:
        if change:
            obj.save()
            return
        created = services.consent_text_add(topic=obj.topic, language=obj.language, text=obj.text)
        obj.pk, obj.version, obj.created_at = created.pk, created.version, created.created_at


@admin.register(SupporterAudit)
class SupporterAuditAdmin(ModelAdmin):
    """Every supporter's consent history (sign-ups, confirmations, preferences, unsubscribes,
    exports, erasures). Not the audit log of staff changes: that is backoffice/audit_admin.py."""

    list_display = ["created_at", "supporter", "action", "actor", "method", "staff"]
    list_filter = ["action", "actor", "method"]
    readonly_fields = [
        "supporter",
        "action",
        "actor",
        "method",
        "staff",
        "details",
        "created_at",
    ]
    # Only these: left to itself the page would add the staff_user key as a link as well.
    fields = readonly_fields

    @admin.display(description=_("staff member"))
    def staff(self, obj: SupporterAudit) -> str:
        return staff_member(obj)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # The model's own name says "audit"; staff know this page as the consent history.
        context = {"title": _("Consent history"), **(extra_context or {})}
        return super().changelist_view(request, context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
