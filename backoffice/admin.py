"""Staff accounts and roles in the back office's theme (Admin role only, by permission)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp_webauthn.models import WebAuthnCredential
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from backoffice import (
    audit_admin,  # noqa: F401 - the "Audit log" page
    device_admin,  # second factors, without their secrets
)
from backoffice.roles import ROLES

admin.site.unregister(User)
admin.site.unregister(Group)


# The default permissions' names are stored in English ("Can view story"); shown in the
# page's language from the model's (translated) name instead.
DEFAULT_ACTIONS = {
    "add": _("add"),
    "change": _("change"),
    "delete": _("delete"),
    "view": _("view"),
}


def permission_label(permission: Permission) -> str:
    model = permission.content_type.model_class()
    if model is None:
        return str(permission)
    action = permission.codename.split("_", 1)[0]
    what = (
        f"{model._meta.verbose_name}: {DEFAULT_ACTIONS[action]}"
        if permission.codename == f"{action}_{model._meta.model_name}" and action in DEFAULT_ACTIONS
        else gettext(permission.name)
    )
    return f"{model._meta.app_config.verbose_name} | {what}"


class PermissionLabels:
    """Permission pickers (a role's, a user's) in the page's language."""

    def formfield_for_manytomany(
        self, db_field: Any, request: HttpRequest | None = None, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]
        if field is not None and db_field.name in ("permissions", "user_permissions"):
            # The field calls it with the permission only (an instance attribute, not a method).
            setattr(field, "label_from_instance", permission_label)  # noqa: B010
        return field


@admin.register(User)
class StaffUserAdmin(PermissionLabels, BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "email", "is_staff", "is_active", "role_names", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]

    @admin.display(description=_("roles"))
    def role_names(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all())

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")


@admin.register(Group)
class RoleAdmin(PermissionLabels, BaseGroupAdmin, ModelAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Group | None = None) -> list[str]:
        # The built-in roles are defined in backoffice/roles.py and re-applied on every deploy:
        # an edit here would be silently undone, so it is not offered.
        if obj is not None and obj.name in ROLES:
            return ["name", "permission_list"]
        return []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        if obj is not None and obj.name in ROLES:
            # Read-only: listed in the page's language rather than as stored.
            return ["permission_list" if name == "permissions" else name for name in fields]
        return fields

    @admin.display(description=_("permissions"))
    def permission_list(self, obj: Group) -> str:
        permissions = obj.permissions.select_related("content_type")
        return ", ".join(permission_label(permission) for permission in permissions)


@admin.register(WebAuthnCredential)
class PasskeyAdmin(device_admin.SecretFreeDeviceAdmin):
    """An Admin removes a lost passkey for someone (the person does it themselves on the
    Security page otherwise); nothing is added or edited here."""

    list_display = ["user", "name", "created_at", "last_used_at"]
    list_filter = ["created_at"]
