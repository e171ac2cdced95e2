"""The "Audit log" page: django-auditlog's entries, read-only, for the Admin role.

Who may open it is the `auditlog.view_logentry` permission, which only the Admin role holds
(backoffice/roles.py gives Marketing and Finance none of auditlog's). Nobody adds, changes or
deletes an entry here.
"""

from __future__ import annotations

from typing import Any

from auditlog.mixins import LogEntryAdminMixin
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

# auditlog registers an unthemed page of its own on admin.site; this one replaces it.
if admin.site.is_registered(LogEntry):
    admin.site.unregister(LogEntry)


class AuditedModelFilter(admin.SimpleListFilter):
    """The audited models by name, from the registry (no scan of the log for distinct types)."""

    title = _("record type")
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        models = auditlog.get_models()
        types = ContentType.objects.get_for_models(*models)
        return sorted(
            # gettext: third-party models (django-otp's) name themselves in plain English.
            ((str(types[m].pk), capfirst(gettext(str(m._meta.verbose_name)))) for m in models),
            key=lambda choice: choice[1],
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet[LogEntry]) -> QuerySet[LogEntry]:
        if self.value() and self.value().isdigit():  # type: ignore[union-attr]
            return queryset.filter(content_type_id=int(self.value()))  # type: ignore[arg-type]
        return queryset


@admin.register(LogEntry)
class AuditLogAdmin(LogEntryAdminMixin, ModelAdmin):
    list_display = ["created", "resource_url", "action", "msg_short", "who"]
    list_filter = [
        ("actor", admin.RelatedOnlyFieldListFilter),
        AuditedModelFilter,
        "action",
        "timestamp",
    ]
    # An object's id finds its whole history; a name finds e.g. a staff account's.
    search_fields = ["=object_pk", "object_repr"]
    search_help_text = _("The record's id, or its name as shown in the list.")
    date_hierarchy = "timestamp"
    ordering = ["-timestamp", "-id"]
    list_select_related = ["content_type", "actor"]
    show_full_result_count = False  # counting a long log on every page costs a full scan
    readonly_fields = ["created", "who", "resource_url", "action", "msg", "remote_addr"]
    fieldsets = [
        (None, {"fields": ["created", "who", "remote_addr", "resource_url", "action"]}),
        (_("Changes"), {"fields": ["msg"]}),
    ]

    @admin.display(description=_("by"), ordering="actor")
    def who(self, obj: LogEntry) -> str | SafeString:
        # No actor: the worker, a webhook, or a supporter on the public pages.
        if obj.actor is None:
            return format_html("<em>{}</em>", _("system"))
        return str(obj.actor)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LogEntry]:
        self.request = request  # LogEntryAdminMixin builds its filter links from it
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
