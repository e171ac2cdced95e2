"""The audit log (backoffice/audit.py): every change a staff member makes through the back
office is an auditlog entry naming them and the record; the worker and webhooks write entries
with no actor ("system"); personal data never reaches the log, so erasure leaves none there.
Changes are made the way staff make them: the admin's own forms and actions, posted as a
browser would post them (every field the page renders, with its value)."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from backoffice.audit import NOT_AUDITED, created_entry, entries_deferred
from backoffice.roles import ADMIN, FINANCE, MARKETING
from campaign import services
from campaign.models import Consent, Story, Supporter
from campaign.selectors import consent_texts_current
from campaign.services import Evidence
from campaign.tokens import confirmation_token
from devstripe.server import FakeStripe
from donations.ledger import Movement, ledger_record
from donations.models import Donation, Transaction, TransactionKind
from mailing.models import Mailing, Segment
from tests.backoffice.conftest import admin_url, verified_client
from tests.campaign.test_signup import form_data
from tests.donations.gifts import paid_gift
from tests.factories import (
    CampaignFactory,
    ConsentFactory,
    DonationFactory,
    StoryFactory,
    SupporterFactory,
)

pytestmark = pytest.mark.django_db

Action = LogEntry.Action


class _FormFields(HTMLParser):
    """What a browser submits for the form with the given id: named, enabled fields only."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, list[str]] = {}
        self._select: tuple[str, bool] | None = None  # (name, multiple)
        self._first_option: str | None = None
        self._chosen = False
        self._textarea: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in attributes}
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
            return
        name = attrs.get("name")
        if not self.inside:
            return
        if tag == "input" and name and "disabled" not in attrs:
            kind = attrs.get("type", "text")
            if kind in {"submit", "button", "reset", "image", "file"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attrs:
                return
            self._add(name, attrs.get("value", "on" if kind in {"checkbox", "radio"} else ""))
        elif tag == "select" and name and "disabled" not in attrs:
            self._select = (name, "multiple" in attrs)
            self._first_option, self._chosen = None, False
        elif tag == "option" and self._select is not None:
            value = attrs.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in attrs:
                self._add(self._select[0], value)
                self._chosen = True
        elif tag == "textarea" and name and "disabled" not in attrs:
            self._textarea = name
            self._add(name, "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            if self._textarea is not None:
                # A newline right after <textarea> is not part of the value.
                value = self.fields[self._textarea][-1]
                self.fields[self._textarea][-1] = value.removeprefix("\n")
            self._textarea = None
        elif tag == "select" and self._select is not None:
            name, multiple = self._select
            if not multiple and not self._chosen and self._first_option is not None:
                self._add(name, self._first_option)  # a browser sends the first option
            self._select = None


def submit(client: Client, url: str, model: type[models.Model], **changes: Any) -> Any:
    """Open the admin's form at url, change some fields, and post it as a browser would."""
    page = client.get(url)
    assert page.status_code == 200, url
    parser = _FormFields(f"{model._meta.model_name}_form")
    parser.feed(page.content.decode())
    assert parser.fields, f"no form on {url}"
    data: dict[str, Any] = dict(parser.fields)
    for name, value in changes.items():
        data[name] = value if isinstance(value, list) else [value]
    response = client.post(url, data)
    assert response.status_code == 302, (url, _form_errors(response))
    return response


def _form_errors(response: Any) -> Any:
    context = getattr(response, "context", None)
    if context and "adminform" in context:
        return context["adminform"].form.errors
    return response.status_code


def entries_for(obj: models.Model | type[models.Model], pk: Any = None) -> Any:
    """The log of one record (by instance, or by model and id once it is deleted)."""
    model = obj if isinstance(obj, type) else type(obj)
    key = pk if pk is not None else obj.pk  # type: ignore[union-attr]
    return LogEntry.objects.filter(
        content_type__app_label=model._meta.app_label,
        content_type__model=model._meta.model_name,
        object_pk=str(key),
    )


def actions_by(entries: Any) -> list[tuple[int, int | None]]:
    return list(entries.order_by("timestamp", "id").values_list("action", "actor_id"))


def test_every_staff_change_is_logged_with_who_made_it(
    make_staff: Callable[..., Any],
) -> None:
    marketing = make_staff(MARKETING)
    client = verified_client(marketing)
    campaign = CampaignFactory()

    # A story: written, edited, deleted.
    submit(
        client,
        admin_url("campaign/story/add/"),
        Story,
        campaign=str(campaign.pk),
        slug="audit-verhaal",
        child_pseudonym="Samir",
        route_nl="Libië",
        title_nl="Samir op zee",
        summary_nl="Een korte samenvatting.",
        body_nl="Het verhaal.",
    )
    story = Story.objects.get(slug="audit-verhaal")
    submit(client, admin_url(f"campaign/story/{story.pk}/change/"), Story, title_nl="Samir thuis")
    story_pk = story.pk
    deleted = client.post(admin_url(f"campaign/story/{story_pk}/delete/"), {"post": "yes"})
    assert deleted.status_code == 302
    assert not Story.objects.filter(pk=story_pk).exists()

    # A segment, and a mailing to it.
    submit(client, admin_url("mailing/segment/add/"), Segment, name="Audit-segment", filter="{}")
    segment = Segment.objects.get(name="Audit-segment")
    other_story = StoryFactory()
    submit(
        client,
        admin_url("mailing/mailing/add/"),
        Mailing,
        name="Audit-mailing",
        segment=str(segment.pk),
        story=str(other_story.pk),
        subject_nl="Een verhaal voor jou",
    )
    mailing = Mailing.objects.get(name="Audit-mailing")
    submit(
        client,
        admin_url(f"mailing/mailing/{mailing.pk}/change/"),
        Mailing,
        subject_nl="Een ander onderwerp",
    )

    # A consent action: unsubscribing a supporter from the supporter list.
    supporter = SupporterFactory(status=Supporter.Status.ACTIVE)
    consent = ConsentFactory(supporter=supporter)
    unsubscribed = client.post(
        admin_url("campaign/supporter/"),
        {"action": "unsubscribe_selected", "_selected_action": [supporter.pk]},
    )
    assert unsubscribed.status_code == 302

    # An admin moves a staff account from Marketing to Finance.
    admin_user = make_staff(ADMIN)
    colleague = make_staff(MARKETING)
    finance = Group.objects.get(name=FINANCE)
    submit(
        verified_client(admin_user),
        admin_url(f"auth/user/{colleague.pk}/change/"),
        type(colleague),
        groups=[str(finance.pk)],
    )
    assert list(colleague.groups.all()) == [finance]

    me = marketing.pk
    assert actions_by(entries_for(Story, story_pk)) == [
        (Action.CREATE, me),
        (Action.UPDATE, me),
        (Action.DELETE, me),
    ]
    assert entries_for(Story, story_pk).filter(action=Action.UPDATE).get().changes_dict[
        "title_nl"
    ] == ["Samir op zee", "Samir thuis"]
    assert actions_by(entries_for(segment)) == [(Action.CREATE, me)]
    assert actions_by(entries_for(mailing)) == [(Action.CREATE, me), (Action.UPDATE, me)]
    assert (Action.UPDATE, me) in actions_by(entries_for(supporter))
    assert entries_for(supporter).get(action=Action.UPDATE).changes_dict["status"] == [
        "active",
        "unsubscribed",
    ]
    assert actions_by(entries_for(consent).filter(actor=me)) == [(Action.UPDATE, me)]
    group_change = entries_for(colleague).filter(actor=admin_user, changes__has_key="groups")
    assert {tuple(e.changes["groups"]["objects"]) for e in group_change} >= {(FINANCE,)}


@pytest.mark.django_db(transaction=True)
def test_a_webhook_driven_gift_is_logged_with_no_actor(
    fake_stripe: FakeStripe, live_server: Any
) -> None:
    donation = paid_gift(fake_stripe, live_server, amount=2500, email="gever@voorbeeld.nl")

    entries = entries_for(donation)
    ledger = Transaction.objects.filter(donation=donation)

    assert donation.status == "paid"
    assert entries.filter(action=Action.CREATE).exists()
    assert entries.filter(action=Action.UPDATE, changes__has_key="status").exists()
    assert ledger.exists()
    for row in ledger:
        assert actions_by(entries_for(row)) == [(Action.CREATE, None)]
    assert set(entries.values_list("actor", flat=True)) == {None}
    # The donor's address is masked even in the system's entries.
    creation = entries.get(action=Action.CREATE)
    assert creation.changes_dict["donor_email"] == ["", "(hidden)"]
    assert not _log_rows_containing("gever@voorbeeld.nl")


def test_an_update_under_a_row_lock_is_audited_from_the_loaded_values() -> None:
    # The drain's handlers save donations they hold locked: their entries are diffed against
    # the values the row was loaded with, without reading the row back first.
    donation = DonationFactory(status="pending", donor_name="")
    with transaction.atomic():
        locked = Donation.objects.select_for_update().get(pk=donation.pk)
        locked.status, locked.donor_name = "paid", "Sara"
        with CaptureQueriesContext(connection) as queries:
            locked.save(update_fields=["status", "donor_name", "updated_at"])
        locked.status = "refunded"
        locked.save(update_fields=["status", "updated_at"])

    assert not [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    first, second = entries_for(donation).filter(action=Action.UPDATE).order_by("pk")
    assert first.changes_dict == {"status": ["pending", "paid"], "donor_name": ["", "(hidden)"]}
    # The second is diffed against what the first saved, not against what was loaded.
    assert second.changes_dict == {"status": ["paid", "refunded"]}
    assert {first.actor, second.actor} == {None}
    # A save that changes nothing audited writes no entry, as auditlog's own path.
    locked.save(update_fields=["updated_at"])
    assert entries_for(donation).filter(action=Action.UPDATE).count() == 2


def _comparable(entry: LogEntry) -> dict[str, Any]:
    """An entry without what differs between two rows by nature (id, key, creation time)."""
    changes = {k: v for k, v in entry.changes_dict.items() if k not in ("id", "created_at")}
    fields = ("action", "content_type_id", "actor_id", "actor_email", "remote_addr", "cid")
    return {
        **{name: getattr(entry, name) for name in fields},
        "serialized_data": entry.serialized_data,
        "additional_data": entry.additional_data,
        "changes": changes,
    }


@pytest.mark.django_db(transaction=True)
def test_a_sign_up_logs_its_supporter_as_auditlogs_own_receiver_does(client: Client) -> None:
    # A sign-up writes the new supporter's entry with its other rows in one statement
    # (backoffice.audit.created_entry): it must hold what auditlog's receiver writes on save.
    services.consent_texts_ensure_defaults()
    body = {"email": "tweeling@voorbeeld.nl", "first_name": "Noor", "topics": ["stories"]}
    response = client.post(
        "/api/signups",
        {**body, "language": "nl", "consent": True, "utm_source": "tv"},
        content_type="application/json",
    )
    assert response.status_code == 202
    supporter = Supporter.objects.get(email="tweeling@voorbeeld.nl")
    twin = Supporter.objects.get(pk=supporter.pk)
    twin.pk, twin.email = None, "tweeling-2@voorbeeld.nl"
    twin.save()  # the same values, through auditlog's post_save receiver

    signed_up = entries_for(supporter).get()
    saved = entries_for(twin).get()

    assert _comparable(signed_up) == _comparable(saved)
    assert signed_up.changes_dict["email"] == ["", "(hidden)"]
    assert signed_up.changes_dict["utm_source"] == ["", "(hidden)"]
    assert signed_up.changes_dict["id"] == ["None", str(supporter.pk)]
    assert (signed_up.object_id, signed_up.object_repr) == (supporter.pk, str(supporter))
    assert signed_up.actor is None
    assert not _log_rows_containing("tweeling@voorbeeld.nl")


def test_an_entry_built_for_one_statement_names_the_staff_member_like_a_save(
    make_staff: Callable[..., Any],
) -> None:
    staff = make_staff(MARKETING)
    supporter = SupporterFactory()
    with set_actor(staff):
        entry = created_entry(supporter)
    assert entry.pk is None  # built, not written: its caller writes it with its other rows
    assert (entry.actor, entry.action, entry.object_id) == (staff, Action.CREATE, supporter.pk)


def _a_batch_of_changes(charge: str) -> tuple[Donation, Transaction]:
    """What a drain batch does to a gift: the ledger row inserted by hand, the donation saved
    under its row lock."""
    donation = DonationFactory(status="pending", donor_name="")
    with transaction.atomic():
        locked = Donation.objects.select_for_update().get(pk=donation.pk)
        written = ledger_record(
            movement=Movement(
                kind=TransactionKind.GIFT,
                stripe_object=charge,
                amount=2500,
                fee=29,
                currency="EUR",
                occurred_at=timezone.now(),
            ),
            donation=locked,
        )
        assert written
        locked.status, locked.donor_name = "paid", "Sara"
        locked.save(update_fields=["status", "donor_name", "updated_at"])
    return locked, Transaction.objects.get(stripe_object=charge)


def test_deferred_entries_are_written_together_at_the_end_and_hold_the_same() -> None:
    one_by_one, row = _a_batch_of_changes("py_one_by_one")

    def written(donation: Donation, ledger_row: Transaction) -> dict[str, Any]:
        """The update's entry, and the ledger row's without what differs between two rows."""
        (ledger_entry,) = [_comparable(e) for e in entries_for(ledger_row)]
        for name in ("stripe_object", "stripe_charge", "donation", "occurred_at", "recorded_at"):
            ledger_entry["changes"].pop(name, None)
        updates = entries_for(donation).filter(action=Action.UPDATE)
        return {"update": [_comparable(e) for e in updates], "ledger": ledger_entry}

    expected = written(one_by_one, row)
    with CaptureQueriesContext(connection) as queries, entries_deferred():
        together, row = _a_batch_of_changes("py_together")
        # Kept until the block ends (the factory's own CREATE went the usual way).
        assert not entries_for(together).filter(action=Action.UPDATE).exists()
        assert not entries_for(row).exists()
    writes = [q["sql"].split()[0] for q in queries if 'INTO "auditlog_logentry"' in q["sql"]]

    # The factory's own CREATE; then the donation's update and the ledger row's, together.
    assert writes == ["INSERT", "WITH"]
    assert written(together, row) == expected
    assert expected["update"][0]["changes"] == {
        "status": ["pending", "paid"],
        "donor_name": ["", "(hidden)"],
    }
    assert expected["ledger"]["changes"]["amount"] == ["None", "2500"]


def test_deferred_entries_of_a_block_that_fails_are_never_written() -> None:
    changed: list[Donation] = []

    def failing_batch() -> None:
        with entries_deferred():
            changed.append(_a_batch_of_changes("py_failing")[0])
            raise RuntimeError("the batch fails: its caller rolls its transaction back")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert changed
    assert not entries_for(changed[0]).filter(action=Action.UPDATE).exists()


def _log_rows_containing(value: str) -> int:
    """Audit-log rows with the value anywhere (every column, as text)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {LogEntry._meta.db_table} entry "  # noqa: S608 - our table
            "WHERE entry::text ILIKE %s",
            [f"%{value}%"],
        )
        count: int = cursor.fetchone()[0]
    return count


def test_after_erasure_the_audit_log_holds_nothing_of_the_person(
    settings: Any, make_staff: Callable[..., Any]
) -> None:
    settings.SUPPORTERS_RATE_SIGNUP_IP = settings.SUPPORTERS_RATE_SIGNUP_EMAIL = "1000/m"
    services.consent_texts_ensure_defaults()
    texts = consent_texts_current("nl")
    email = "Ilse.Auditlog-Uniek@Voorbeeld.nl"
    personal = {
        "first_name": "Ilse-Auditnaam",
        "utm_source": "uniek-audit-bron",
        "source_page": "/verhalen/uniek-audit-pagina/",
    }
    ip, agent = "198.51.100.231", "UniqueAuditAgent/3.1"

    # Signed up on the public page, confirmed, name changed in the preference centre ...
    signed_up = Client().post(
        "/aanmelden/",
        form_data(texts, email=email, **personal),
        headers={"user-agent": agent},
        REMOTE_ADDR=ip,
    )
    assert signed_up.status_code == 302
    supporter = Supporter.objects.get(email__iexact=email)
    services.supporter_confirm(
        token=confirmation_token(supporter_id=supporter.pk, nonce=supporter.confirmation_nonce),
        evidence=Evidence(method="email_link", ip=ip, user_agent=agent),
    )
    services.supporter_preferences_update(
        supporter_id=supporter.pk,
        first_name="Ilse-Andersnaam",
        language="nl",
        texts={"stories": texts["stories"]},
        evidence=Evidence(method="preference_centre", ip=ip, user_agent=agent),
    )
    # ... unsubscribed by marketing, and erased on request by an admin.
    verified_client(make_staff(MARKETING)).post(
        admin_url("campaign/supporter/"),
        {"action": "unsubscribe_selected", "_selected_action": [supporter.pk]},
    )
    admin_user = make_staff(ADMIN)
    erased = verified_client(admin_user).post(
        admin_url("campaign/supporter/"),
        {"action": "erase_selected", "_selected_action": [supporter.pk], "post": "yes"},
    )
    assert erased.status_code == 302
    supporter.refresh_from_db()
    assert supporter.erased_at is not None

    # The log did record the person's story: sign-up, changes, consents, erasure.
    entries = entries_for(supporter)
    creation = entries.get(action=Action.CREATE)
    assert creation.actor is None  # the supporter on the public page
    assert creation.remote_addr is None  # and their address is not kept
    assert creation.changes_dict["email"] == ["", "(hidden)"]
    erasure = entries.filter(actor=admin_user, changes__has_key="erased_at").get()
    assert erasure.changes_dict["email"] == ["(hidden)", ""]
    assert LogEntry.objects.filter(
        content_type__model="consent", action=Action.DELETE, actor=admin_user
    ).exists()
    assert not Consent.objects.filter(supporter=supporter).exists()
    # None of the person's data is in it.
    for value in (email, "Ilse-Andersnaam", ip, agent, *personal.values()):
        assert _log_rows_containing(value) == 0, value


def test_the_audit_log_page_is_the_admins_read_only_and_filterable(
    make_staff: Callable[..., Any],
) -> None:
    admin_user = make_staff(ADMIN)
    client = verified_client(admin_user)
    story = StoryFactory()
    submit(client, admin_url(f"campaign/story/{story.pk}/change/"), Story, title_nl="Nieuw")
    entry = entries_for(story).get(actor=admin_user)
    system_story = StoryFactory(title_nl="Door het systeem")  # no request: no actor

    page = client.get(admin_url("auditlog/logentry/"))
    by_me = client.get(admin_url(f"auditlog/logentry/?actor__id__exact={admin_user.pk}"))
    by_id = client.get(admin_url(f"auditlog/logentry/?q={system_story.pk}"))
    by_model = client.get(
        admin_url(f"auditlog/logentry/?model={entry.content_type_id}&action__exact=1")
    )
    detail = client.get(admin_url(f"auditlog/logentry/{entry.pk}/change/"))

    assert page.status_code == 200
    assert admin_user.username in page.content.decode()
    with translation.override("nl"):  # the back office's default language
        assert f"<em>{_('system')}</em>" in page.content.decode()
    assert list(by_me.context["cl"].result_list) == [entry]
    assert system_story.pk in [int(e.object_pk) for e in by_id.context["cl"].result_list]
    assert set(by_model.context["cl"].result_list) == {entry}
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    # Nobody writes the log by hand, not even an admin.
    assert client.get(admin_url("auditlog/logentry/add/")).status_code == 403
    assert client.post(admin_url(f"auditlog/logentry/{entry.pk}/delete/"), {"post": "yes"})
    assert LogEntry.objects.filter(pk=entry.pk).exists()
    # Marketing and Finance do not see it at all.
    for role in (MARKETING, FINANCE):
        other = verified_client(make_staff(role))
        assert other.get(admin_url("auditlog/logentry/")).status_code == 403
        assert other.get(admin_url(f"auditlog/logentry/{entry.pk}/change/")).status_code == 403
        assert admin_url("auditlog/logentry/") not in other.get(admin_url()).content.decode()


def test_every_model_of_money_mail_and_consent_is_audited_or_says_why_not() -> None:
    from django.apps import apps

    models_of_apps = [
        model
        for app in ("campaign", "donations", "mailing")
        for model in apps.get_app_config(app).get_models()
    ]
    undecided = [
        m._meta.label
        for m in models_of_apps
        if not auditlog.contains(m) and m._meta.label not in NOT_AUDITED
    ]
    both = [label for label in NOT_AUDITED if auditlog.contains(apps.get_model(label))]

    assert undecided == [], "audit these in backoffice/audit.py, or say in NOT_AUDITED why not"
    assert both == []
    for label in ("auth.User", "auth.Group", "otp_totp.TOTPDevice", "otp_static.StaticDevice"):
        assert auditlog.contains(apps.get_model(label)), label


def test_the_consent_history_is_named_as_such() -> None:
    # The supporters' own record (SupporterAudit) is not a second audit log in the menu.
    from django.conf import settings

    with translation.override("en"):
        titles = [
            str(item["title"])
            for group in settings.UNFOLD["SIDEBAR"]["navigation"]
            for item in group["items"]
        ]
    assert "Consent history" in titles
    assert "Audit log" in titles
    assert not [t for t in titles if "audit" in t.lower() and t != "Audit log"]
