"""Staff accounts and roles in the back office's theme (Admin role only, by permission)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp_webauthn.models import WebAuthnCredential
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from backoffice import (
    audit_admin,  # noqa: F401 - the "Audit log" page
    device_admin,  # noqa: F401 - second factors, without their secrets
)
from backoffice.roles import ROLES

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class StaffUserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "email", "is_staff", "is_active", "role_names", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]

    @admin.display(description="roles")
    def role_names(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all())

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")


@admin.register(Group)
class RoleAdmin(BaseGroupAdmin, ModelAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Group | None = None) -> list[str]:
        # The built-in roles are defined in backoffice/roles.py and re-applied on every deploy:
        # an edit here would be silently undone, so it is not offered.
        if obj is not None and obj.name in ROLES:
            return ["name", "permissions"]
        return []


@admin.register(WebAuthnCredential)
class PasskeyAdmin(ModelAdmin):
    """An Admin removes a lost passkey for someone (the person does it themselves on the
    Security page otherwise). Nothing is added or edited here: a passkey is made by its
    owner's browser."""

    list_display = ["user", "name", "created_at", "last_used_at"]
    list_filter = ["created_at"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # One's own passkeys go through the Security page, which refuses removing the device
        # in use or the last one; here an Admin removes other people's.
        own = isinstance(obj, WebAuthnCredential) and obj.user_id == request.user.pk
        return super().has_delete_permission(request, obj) and not own
