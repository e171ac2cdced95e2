"""Staff roles as groups, least privilege first (DESIGN.md invariant 7).

The admin checks these Django permissions on every page (view/add/change/delete per model),
so a role without a model's permissions gets 403 at its URLs, whatever the menu shows. Model
admins narrow further where the data demands it (the ledger is read-only for everyone).

Roles are code: `sync_roles` sets each group's permissions to exactly these lists. The roles
migration calls it, and so does every `migrate` (post_migrate, backoffice/apps.py), which also
gives the Admin role the permissions of models added later and restores the groups after a
test database flush. Editing a role's permissions in the back office is therefore undone on
the next deploy: change it here. Who holds a role is data, set per staff account.
"""

from __future__ import annotations

from typing import Any

MARKETING = "Marketing"
FINANCE = "Finance"
ADMIN = "Admin"

_CRUD = ("add", "change", "delete", "view")


def _perms(app_label: str, model: str, *actions: str) -> list[str]:
    return [f"{app_label}.{action}_{model}" for action in actions]


# Marketing: stories, sequences, mailings, segments and supporters' marketing data. No model of
# donations/, no personal-data export (it carries gifts), no erasure (an AVG request is handled
# by an admin).
MARKETING_PERMISSIONS: list[str] = [
    *_perms("campaign", "campaign", "change", "view"),
    *_perms("campaign", "story", *_CRUD),
    *_perms("campaign", "consenttext", "view"),
    # change: the "unsubscribe" action; every field of a supporter is read-only in the admin.
    *_perms("campaign", "supporter", "change", "view"),
    *_perms("campaign", "consent", "view"),
    *_perms("campaign", "supporteraudit", "view"),
    *_perms("mailing", "sequence", *_CRUD),
    *_perms("mailing", "sequencestep", *_CRUD),
    *_perms("mailing", "mailing", *_CRUD),
    *_perms("mailing", "segment", *_CRUD),
    *_perms("mailing", "enrollment", "view"),
    *_perms("mailing", "message", "view"),
    *_perms("mailing", "delivery", "view"),
    *_perms("mailing", "suppression", "add", "view"),
]

# Finance: every money record, read-only (Stripe is the source; the ledger is append-only and
# corrections are new rows written by the services). Supporters read-only. Nothing of mailing/.
FINANCE_PERMISSIONS: list[str] = [
    *_perms("donations", "donation", "view"),
    *_perms("donations", "recurringdonation", "view"),
    *_perms("donations", "transaction", "view"),
    *_perms("donations", "payoutline", "view"),
    *_perms("donations", "stripeevent", "view"),
    *_perms("donations", "donornotice", "view"),
    *_perms("campaign", "supporter", "view"),
    *_perms("campaign", "consent", "view"),
    # Annual statements: start a run (add), follow it and download PDFs (view); agreements are
    # recorded, printed and marked signed by finance (donations/*_admin.py).
    *_perms("donations", "statementrun", "add", "change", "view"),
    *_perms("donations", "annualstatement", "view"),
    *_perms("donations", "periodicgiftagreement", "add", "change", "view"),
    # Which campaign a Payment Link's (price's, product's) gifts are for: set by finance
    # (changed when wrong; like every finance record, never deleted by finance).
    *_perms("donations", "stripecampaign", "add", "change", "view"),
    # Background exports: ask for one, follow it, fetch its file (backoffice/export_views.py).
    # A read of the ledger, so a view permission like the rest of this role.
    *_perms("backoffice", "exportjob", "view"),
]

# Admin: every permission there is (staff accounts, roles, devices, AVG actions included).
ADMIN_ALL = "__all__"

ROLES: dict[str, list[str] | str] = {
    MARKETING: MARKETING_PERMISSIONS,
    FINANCE: FINANCE_PERMISSIONS,
    ADMIN: ADMIN_ALL,
}


def sync_roles(apps: Any, *, strict: bool = True) -> None:
    """Create the groups and set their permissions to exactly ROLES (idempotent).

    `apps` is a migration's app registry (or django.apps.apps). Unknown permission names fail
    loudly when `strict`: a typo would otherwise silently withhold (or, renamed, keep) access.
    Not strict after a partial `migrate`, where a later model's permissions are missing yet.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        if wanted == ADMIN_ALL:
            group.permissions.set(Permission.objects.all())
            continue
        found = []
        for dotted in wanted:
            app_label, codename = dotted.split(".", 1)
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is None:
                if strict and not _model_not_migrated_yet(apps, app_label, codename):
                    raise LookupError(f"role {name}: no permission {dotted}")
                continue
            found.append(permission)
        group.permissions.set(found)


def _model_not_migrated_yet(apps: Any, app_label: str, codename: str) -> bool:
    """A permission ("<action>_<model>") of a model that exists in the code but not yet in the
    migration state `apps`: a fresh database running an early roles migration. Its
    permissions come with the model's own migration and the post_migrate sync after it;
    a misspelt model is no real model and still fails."""
    from django.apps import apps as installed

    model_name = codename.split("_", 1)[-1]
    try:
        installed.get_model(app_label, model_name)
    except LookupError:
        return False
    try:
        apps.get_model(app_label, model_name)
    except LookupError:
        return True
    return False
