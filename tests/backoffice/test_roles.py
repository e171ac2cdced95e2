"""Roles are enforced by permissions at every URL, not by hiding menu items (invariant 7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission

from backoffice.roles import ADMIN, FINANCE, MARKETING
from tests.backoffice.conftest import admin_url, verified_client

pytestmark = pytest.mark.django_db


def registered(app_label: str) -> list[str]:
    """Every model of an app that the back office shows: new ones are covered automatically."""
    return sorted(
        model._meta.model_name
        for model in admin.site._registry
        if model._meta.app_label == app_label
    )


def urls_of(app_label: str, rows: dict[str, Any]) -> list[str]:
    urls = []
    for model_name in registered(app_label):
        base = admin_url(f"{app_label}/{model_name}/")
        urls += [base, f"{base}add/"]
        if model_name in rows:
            pk = rows[model_name].pk
            urls += [f"{base}{pk}/change/", f"{base}{pk}/delete/", f"{base}{pk}/history/"]
    return urls


def test_the_three_roles_exist_with_least_privilege() -> None:
    marketing = set(
        Group.objects.get(name=MARKETING).permissions.values_list(
            "content_type__app_label", flat=True
        )
    )
    finance = Group.objects.get(name=FINANCE).permissions
    admin_role = Group.objects.get(name=ADMIN).permissions

    assert "donations" not in marketing
    # Personal-data exports carry gifts; erasure is an admin's job.
    marketing_codenames = set(
        Group.objects.get(name=MARKETING).permissions.values_list("codename", flat=True)
    )
    assert {"export_supporter_data", "erase_supporter"}.isdisjoint(marketing_codenames)
    assert not finance.filter(content_type__app_label="mailing").exists()
    # Money records are read-only for Finance; it only does its jobs on the job records:
    # annual statement runs and periodic-gift agreements (issue #7), and the campaigns of
    # Stripe links (issue 12).
    job_models = ["statementrun", "periodicgiftagreement", "stripecampaign"]
    assert not (
        finance.exclude(codename__startswith="view_")
        .exclude(content_type__app_label="donations", content_type__model__in=job_models)
        .exists()
    )
    assert not finance.filter(codename__startswith="delete_").exists()
    assert admin_role.count() == Permission.objects.count()


def test_every_finance_page_is_covered() -> None:
    assert registered("donations") == [
        "annualstatement",
        "donation",
        "donornotice",
        "payoutline",
        "periodicgiftagreement",
        "recurringdonation",
        "statementrun",
        "stripecampaign",
        "stripeevent",
        "transaction",
    ]


def test_marketing_gets_403_on_every_finance_url(
    make_staff: Callable[..., Any], finance_rows: dict[str, Any]
) -> None:
    client = verified_client(make_staff(MARKETING))
    urls = urls_of("donations", finance_rows)
    # Five pages of each model with a row; the list and add pages of the others.
    assert len(urls) == 5 * len(finance_rows) + 2 * (
        len(registered("donations")) - len(finance_rows)
    )

    answers = {url: client.get(url).status_code for url in urls}

    assert answers == dict.fromkeys(urls, 403)
    # Not through the menu either: the dashboard links to no finance page.
    dashboard = client.get(admin_url()).content.decode()
    assert admin_url("donations/") not in dashboard


def test_finance_gets_403_on_every_mailing_change_url(
    make_staff: Callable[..., Any], mailing_rows: dict[str, Any]
) -> None:
    client = verified_client(make_staff(FINANCE))
    urls = urls_of("mailing", mailing_rows)
    mailing = mailing_rows["mailing"]

    answers = {url: client.get(url).status_code for url in urls}
    posted = client.post(
        admin_url(f"mailing/mailing/{mailing.pk}/change/"), {"name": "changed by finance"}
    )
    action = client.post(
        admin_url("mailing/mailing/"),
        {"action": "cancel_selected", "_selected_action": [mailing.pk]},
    )

    assert answers == dict.fromkeys(urls, 403)
    assert posted.status_code == 403
    assert action.status_code == 403
    mailing.refresh_from_db()
    assert (mailing.name, mailing.state) == ("Kerst", "draft")


def test_finance_sees_the_money_read_only_and_supporters_read_only(
    make_staff: Callable[..., Any], finance_rows: dict[str, Any]
) -> None:
    client = verified_client(make_staff(FINANCE))
    donation = finance_rows["donation"]

    for model_name in registered("donations"):
        assert client.get(admin_url(f"donations/{model_name}/")).status_code == 200
    change_page = client.get(admin_url(f"donations/donation/{donation.pk}/change/"))
    assert change_page.status_code == 200
    assert b'name="_save"' not in change_page.content
    assert client.get(admin_url("campaign/supporter/")).status_code == 200
    assert client.get(admin_url("campaign/story/")).status_code == 403


def test_the_ledger_is_append_only_even_for_admins(
    make_staff: Callable[..., Any], finance_rows: dict[str, Any]
) -> None:
    client = verified_client(make_staff(ADMIN))
    row = finance_rows["transaction"]

    assert client.get(admin_url("donations/transaction/")).status_code == 200
    assert client.get(admin_url("donations/transaction/add/")).status_code == 403
    assert client.get(admin_url(f"donations/transaction/{row.pk}/delete/")).status_code == 403
    client.post(admin_url(f"donations/transaction/{row.pk}/change/"), {"amount": 1})
    row.refresh_from_db()
    assert row.amount == 2500


def test_marketing_works_on_stories_and_mail(
    make_staff: Callable[..., Any], mailing_rows: dict[str, Any]
) -> None:
    client = verified_client(make_staff(MARKETING))
    sequence = mailing_rows["sequence"]

    for tail in (
        "campaign/story/",
        "campaign/story/add/",
        "mailing/mailing/",
        "mailing/mailing/add/",
        f"mailing/sequence/{sequence.pk}/change/",
        "mailing/segment/add/",
        "campaign/supporter/",
    ):
        assert client.get(admin_url(tail)).status_code == 200, tail
    # Staff accounts and roles are the Admin role's.
    assert client.get(admin_url("auth/user/")).status_code == 403
    dashboard = client.get(admin_url()).content.decode()
    assert admin_url("mailing/mailing/") in dashboard
