from typing import Any

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = _("Back office")

    def ready(self) -> None:
        from backoffice.audit import register_audited_models
        from backoffice.labels import translate_default_names

        post_migrate.connect(_roles_follow_the_code, sender=self)
        register_audited_models()
        translate_default_names()


class StaffAdminConfig(AdminConfig):
    """django.contrib.admin with our OTP-guarded, unfold-themed site as `admin.site`, so every
    app's `@admin.register` lands on the site that demands a second factor."""

    default_site = "backoffice.sites.StaffAdminSite"


def _roles_follow_the_code(**kwargs: Any) -> None:
    # After every migrate (and every test database flush): the roles as backoffice/roles.py
    # defines them, the Admin role with the permissions of models added since, too. backoffice
    # is the last app, so every other app's permissions exist by the time this runs.
    from django.apps import apps

    from backoffice.roles import sync_roles

    sync_roles(apps, strict=False)
