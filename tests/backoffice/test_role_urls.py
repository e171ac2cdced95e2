"""Every back-office URL, found by walking the admin site's URL patterns, answers a role that
may not see it with 403 (invariant 7): tried directly, GET and POST, not through menus.

A page added later (a new model admin, a custom view on one, a site-level finance page) is
covered without anyone editing this file. Object URLs are filled with real rows: an existing
one, one from the test factories, or the rows named below; a new kind of id in a URL makes
the test fail with a message saying what to add, rather than go untested.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import factory
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import IntegrityError, models, transaction
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from django.views.generic import RedirectView

from backoffice.roles import FINANCE, MARKETING
from campaign.models import SupporterAudit
from tests import factories
from tests.backoffice.conftest import admin_url, verified_client
from tests.mailing import factories as mailing_factories

pytestmark = pytest.mark.django_db

# Site-level pages (not under a model admin) whose URL holds a record's id: which model.
SITE_LEVEL_ROWS = {
    "finance/exports/": "backoffice.ExportJob",
    "finance/payouts/": "donations.PayoutLine",  # by its payout id, not its pk
}
# Site-level pages that are Finance's.
FINANCE_SITE_PREFIXES = ("finance/",)

_ARG = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class AdminRoute:
    route: str  # e.g. "donations/donation/<path:object_id>/change/"
    name: str | None
    model: type[models.Model] | None  # the model admin it belongs to, None for site pages
    redirect: bool  # Django's "<id>/" shortcut that only redirects to the change page


def admin_routes() -> list[AdminRoute]:
    """Every URL pattern of the admin site, with the model admin each one belongs to."""
    by_prefix = {f"{m._meta.app_label}/{m._meta.model_name}/": m for m in admin.site._registry}

    def walk(patterns: list[Any], prefix: str) -> Iterator[AdminRoute]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                model = next((m for p, m in by_prefix.items() if route.startswith(p)), None)
                redirect = getattr(pattern.callback, "view_class", None) is RedirectView
                yield AdminRoute(route, pattern.name, model, redirect)

    return list(walk(admin.site.urls[0], ""))


def _factory_for(model: type[models.Model]) -> Any:
    for module in (factories, mailing_factories):
        for candidate in vars(module).values():
            if (
                isinstance(candidate, type)
                and issubclass(candidate, factory.django.DjangoModelFactory)
                and candidate._meta.model is model
            ):
                return candidate
    return None


def row_of(model: type[models.Model]) -> models.Model:
    """A real row of `model`: one that exists, or one made by its test factory."""
    existing = model._default_manager.order_by("pk").first()
    if existing is not None:
        return existing
    maker = _factory_for(model)
    if maker is not None:
        made: models.Model = maker()
        return made
    try:
        with transaction.atomic():
            # Every field at its default: enough for the pages to have a record to show.
            return model._default_manager.create()
    except (IntegrityError, ValueError) as exc:
        raise AssertionError(
            f"no row of {model._meta.label} to try its pages with: add a factory for it to "
            "tests/factories.py"
        ) from exc


def _model_for_arg(route: AdminRoute, arg: str) -> type[models.Model]:
    if route.model is not None:
        # "<path:object_id>" and "<int:pk>" are the admin's own model; another name is a model
        # of the same app that it ends ("step" -> SequenceStep).
        if arg in {"object_id", "pk", "id"}:
            return route.model
        same_app = route.model._meta.app_config.get_models()
        for model in same_app:
            if model._meta.model_name.endswith(arg):
                return model
    for prefix, label in SITE_LEVEL_ROWS.items():
        if route.route.startswith(prefix):
            from django.apps import apps

            return apps.get_model(label)
    raise AssertionError(
        f"{route.route}: which record does <{arg}> name? Say so in SITE_LEVEL_ROWS"
    )


def url_for(route: AdminRoute) -> str:
    def fill(match: re.Match[str]) -> str:
        if match["converter"] == "str" and match["name"] == "language":
            return "nl"
        row = row_of(_model_for_arg(route, match["name"]))
        return str(row.payout if match["name"] == "payout" else row.pk)  # type: ignore[attr-defined]

    return admin_url(_ARG.sub(fill, route.route))


def finance_routes() -> list[AdminRoute]:
    """Every page of the donations app's admins, of any admin whose model only Finance (not
    Marketing) may see, and the site-level finance pages (exports, payouts)."""
    finance_only = _models_only(FINANCE, not_for=MARKETING)
    return [
        r
        for r in admin_routes()
        if not r.redirect
        and (
            (
                r.model is not None
                and (r.model._meta.app_label == "donations" or r.model in finance_only)
            )
            or (r.model is None and r.route.startswith(FINANCE_SITE_PREFIXES))
        )
    ]


def mailing_routes() -> list[AdminRoute]:
    return [
        r
        for r in admin_routes()
        if not r.redirect and r.model is not None and r.model._meta.app_label == "mailing"
    ]


def _models_only(role: str, *, not_for: str) -> set[type[models.Model]]:
    def models_of(name: str) -> set[type[models.Model]]:
        perms = Group.objects.get(name=name).permissions.select_related("content_type")
        return {p.content_type.model_class() for p in perms} - {None}  # type: ignore[misc]

    return models_of(role) - models_of(not_for)


def answers(client: Any, routes: list[AdminRoute]) -> dict[str, tuple[int, int]]:
    """(GET, POST) status for each URL. POST with an empty form: a view that checks its
    permission only on GET, or only on POST, shows here."""
    result = {}
    for route in routes:
        url = url_for(route)
        result[url] = (client.get(url).status_code, client.post(url, {}).status_code)
    return result


def refused(answer: tuple[int, int]) -> bool:
    get, post = answer
    # 405 on GET: a POST-only view (a test send) refuses the method before anything else.
    return get in (403, 405) and post == 403


def test_the_walk_finds_every_standard_page_of_every_model_admin() -> None:
    routes = {r.name for r in admin_routes()}

    for model in admin.site._registry:
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        for view in ("changelist", "add", "change", "delete", "history"):
            assert f"{info}_{view}" in routes


def test_marketing_gets_403_on_every_finance_page_and_export_url(
    make_staff: Callable[..., Any], finance_rows: dict[str, Any]
) -> None:
    client = verified_client(make_staff(MARKETING))
    routes = finance_routes()
    # Not vacuous: the five standard pages of every donations admin are among them.
    donations_admins = [m for m in admin.site._registry if m._meta.app_label == "donations"]
    assert len([r for r in routes if r.model in donations_admins]) >= 5 * len(donations_admins)

    got = answers(client, routes)

    assert {url: a for url, a in got.items() if not refused(a)} == {}
    # The app's index page does not exist for someone without any of its models.
    assert client.get(admin_url("donations/")).status_code in (403, 404)


def test_marketing_cannot_download_supporters_personal_data(
    make_staff: Callable[..., Any],
) -> None:
    # The personal-data export carries gifts: an action on the supporter list, not a URL.
    client = verified_client(make_staff(MARKETING))
    supporter = factories.SupporterFactory()

    response = client.post(
        admin_url("campaign/supporter/"),
        {"action": "export_selected", "_selected_action": [supporter.pk]},
    )

    assert not response.get("Content-Type", "").startswith("application/json")
    assert not SupporterAudit.objects.filter(action=SupporterAudit.Action.EXPORTED).exists()


def test_finance_gets_403_on_every_mailing_url(
    make_staff: Callable[..., Any], mailing_rows: dict[str, Any]
) -> None:
    client = verified_client(make_staff(FINANCE))
    routes = mailing_routes()
    mailing = mailing_rows["mailing"]
    assert len(routes) >= 5 * len(
        [m for m in admin.site._registry if m._meta.app_label == "mailing"]
    )

    got = answers(client, routes)
    # The list actions (pause, resume, cancel, ...) of every mailing admin, posted directly.
    actions = {}
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "mailing":
            continue
        row = row_of(model)
        changelist = admin_url(f"mailing/{model._meta.model_name}/")
        for action in model_admin.actions or []:
            name = action if isinstance(action, str) else action.__name__
            actions[f"{changelist} {name}"] = client.post(
                changelist, {"action": name, "_selected_action": [row.pk]}
            ).status_code

    assert {url: a for url, a in got.items() if not refused(a)} == {}
    assert actions
    assert set(actions.values()) == {403}
    mailing.refresh_from_db()
    assert (mailing.name, mailing.state) == ("Kerst", "draft")


def test_marketing_sees_a_supporters_marketing_data_but_not_their_gifts(
    make_staff: Callable[..., Any],
) -> None:
    supporter = factories.SupporterFactory(first_name="Noor")
    gift = factories.DonationFactory(
        supporter=supporter, amount=12345, stripe_payment_intent="pi_marketing_must_not_see"
    )
    client = verified_client(make_staff(MARKETING))

    pages = [
        client.get(admin_url("campaign/supporter/")).content.decode(),
        client.get(admin_url(f"campaign/supporter/{supporter.pk}/change/")).content.decode(),
    ]

    assert "Noor" in pages[1]
    for page in pages:
        for trace in (str(gift.uuid), "123.45", "123,45", "pi_marketing_must_not_see"):
            assert trace not in page


def test_finance_reads_supporters_and_changes_nothing(make_staff: Callable[..., Any]) -> None:
    supporter = factories.SupporterFactory(status="active")
    factories.ConsentFactory(supporter=supporter)
    client = verified_client(make_staff(FINANCE))

    changelist = client.get(admin_url("campaign/supporter/"))
    change_page = client.get(admin_url(f"campaign/supporter/{supporter.pk}/change/"))
    client.post(
        admin_url("campaign/supporter/"),
        {"action": "unsubscribe_selected", "_selected_action": [supporter.pk]},
    )
    posted = client.post(
        admin_url(f"campaign/supporter/{supporter.pk}/change/"), {"first_name": "Anders"}
    )

    assert changelist.status_code == change_page.status_code == 200
    assert b"unsubscribe_selected" not in changelist.content
    assert b'name="_save"' not in change_page.content
    assert posted.status_code == 403
    supporter.refresh_from_db()
    assert supporter.status == "active"
    assert supporter.consents.filter(withdrawn_at__isnull=True).exists()
    assert not SupporterAudit.objects.filter(action=SupporterAudit.Action.UNSUBSCRIBED).exists()


# --- sessions ---------------------------------------------------------------------------------


def test_a_staff_session_ends_after_inactivity_and_each_request_extends_it(
    settings: Any, make_staff: Callable[..., Any]
) -> None:
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert 60 <= settings.SESSION_COOKIE_AGE <= 60 * 60
    client = verified_client(make_staff(MARKETING))
    key = client.session.session_key
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)

    # Almost idle for too long: this request still counts, and pushes the end forward.
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(seconds=5)
    )
    assert client.get(admin_url()).status_code == 200
    pushed = Session.objects.get(session_key=key).expire_date
    assert pushed > timezone.now() + idle - timedelta(minutes=1)

    # Idle past the limit: the same cookie no longer opens anything.
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get(admin_url("mailing/mailing/"))

    assert response.status_code == 302
    assert response["Location"].startswith(admin_url("login/"))
