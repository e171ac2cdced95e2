"""The audit log (issue #6): who changed what, when, to which record, for money, mail, consent
and staff. One mechanism, django-auditlog, registered here in one list so it can be read.

- Every save, delete and many-to-many change of a registered model writes an
  `auditlog.LogEntry` in the same transaction. In a request the actor is the logged-in user
  (`AuditActorMiddleware`); the worker, webhooks and the public pages write no actor, which the
  back office shows as "system".
- Personal data and secrets are masked: the entry says the field changed, never to what. So
  erasing a supporter (campaign.personal_data) leaves nothing personal in the log, and the log
  itself needs no erasure step.
- `campaign.SupporterAudit` stays what it is: a supporter's consent history, written by the
  services and exported with their personal data. This log is the staff-facing record.
- A model added later to campaign, donations or mailing gets a line below, or a line in
  NOT_AUDITED saying why not (tests/backoffice/test_audit.py fails until it has one).
- Rows written with bulk_create or queryset.update() send no signal and so write no entry:
  the consents of a sign-up (their own rows and SupporterAudit are the evidence), payout lines
  and the pseudonymisation of gifts on erasure (SupporterAudit records the erasure). Services
  whose changes staff make save the row instead (e.g. signing a periodic-gift agreement).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, Self

from auditlog.context import auditlog_disabled, disable_auditlog
from auditlog.diff import model_instance_diff
from auditlog.middleware import AuditlogMiddleware
from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models.signals import post_save, pre_save
from django.http import HttpRequest

from backoffice.audit_diff import created_diff, updated_diff
from config.client_address import client_ip
from config.rows import rows_insert

HIDDEN = "(hidden)"

# Written on every save: recording them would only make each entry longer.
_NOISE = ("updated_at",)

# Where a supporter or donor is named, reached or traced: masked wherever they appear.
_SUPPORTER_PERSONAL = (
    "email",
    "first_name",
    "source_page",
    "source_referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
_DONOR_PERSONAL = ("donor_name", "donor_email")


def hide(value: str) -> str:
    """auditlog's mask: whether a value was set shows, the value itself never does."""
    return "" if value in ("", "None") else HIDDEN


def audit(
    label: str,
    *,
    hidden: Iterable[str] = (),
    only: Iterable[str] = (),
    exclude: Iterable[str] = (),
    m2m: Iterable[str] = (),
) -> None:
    """Record every change to the model `label` ("app.Model"); `hidden` fields are masked."""
    model = apps.get_model(label)
    names = {f.name for f in model._meta.get_fields()}
    unknown = {*hidden, *only, *exclude, *m2m} - names
    if unknown:
        # A renamed field would otherwise silently start logging its (personal) values.
        raise LookupError(f"audit {label}: no field(s) {sorted(unknown)}")
    auditlog.register(
        model,
        include_fields=list(only),
        exclude_fields=[*exclude, *(n for n in _NOISE if n in names)],
        mask_fields=list(hidden),
        mask_callable="backoffice.audit.hide",
        m2m_fields=set(m2m),
    )


# Models of the audited apps that are deliberately not in the log, and why.
NOT_AUDITED: dict[str, str] = {
    "campaign.SupporterAudit": "it is itself the consent history, append-only",
    "donations.StripeEvent": "the webhook inbox: raw Stripe payloads with personal data, "
    "written only by the system; the money it leads to is audited",
    "donations.SyncCursor": "the reconcile's bookmark in Stripe's event list",
    "donations.DemoSeedStep": "the demo seed's record of its own steps, written by the seed only",
    "donations.DonorNotice": "the ledger of transactional emails to donors, system-written",
    "donations.AnnualStatement": "one row per donor and year, bulk-written by a statement run "
    "(which is audited) and marked sent by the worker: a send ledger",
    "mailing.Delivery": "the send ledger: a row per message and supporter, millions, written by "
    "the worker; each row is its own record of what happened",
    "mailing.Message": "the frozen content a mailing or step sent, made by the system when "
    "sending starts; the mailing and step that staff edit are audited",
    "mailing.Enrollment": "a supporter's place in a sequence, moved on by the worker",
    "mailing.GiftAttribution": "derived from gifts (audited) and the send ledger",
    "mailing.GiftReversal": "derived from refunds and disputes (audited in the ledger)",
    "mailing.Click": "a reader following a link, recorded by the public redirect: an event of "
    "the send ledger, not a change anyone makes",
    "mailing.Bounce": "a counter of failed deliveries per address hash, written by the worker and "
    "the bounce route; the suppression it leads to is its own record",
    "mailing.Complaint": "a spam complaint learnt from an ESP event or a feedback-loop report, "
    "written by the system; the unsubscribe and suppression it leads to are their own records",
}


def register_audited_models() -> None:
    """Called once from BackofficeConfig.ready(): the whole list of what is audited."""
    # Money. The ledger is append-only, so its entries are the inserts.
    audit(
        "donations.Donation",
        hidden=(*_DONOR_PERSONAL, "client_ip", "source_token", "utm"),
        exclude=("request_token",),  # a one-time form token: neither money nor evidence
    )
    audit("donations.RecurringDonation", hidden=_DONOR_PERSONAL)
    audit("donations.Transaction")
    audit("donations.PayoutLine")
    audit("donations.StripeCampaign")
    # A run's progress counters move with every batch: who started which year's run is what
    # matters.
    audit("donations.StatementRun", only=("year", "state", "created_by", "finished_at"))
    audit(
        "donations.PeriodicGiftAgreement",
        hidden=(
            *_DONOR_PERSONAL,
            "donor_address",
            "donor_birth_date",
            "donor_birth_place",
        ),
    )

    # Mail: what staff build and send, and the addresses mail must never go to.
    audit("mailing.Sequence")
    audit("mailing.SequenceStep")
    audit("mailing.Mailing")
    audit("mailing.Segment")
    # The hash identifies an address, and a bounce's detail may quote it.
    audit("mailing.Suppression", hidden=("email_hash", "detail"))

    # Consent: the supporter (marketing status), each consent, the wording, and what it promotes.
    audit(
        "campaign.Supporter",
        hidden=(*_SUPPORTER_PERSONAL, "link_secret", "confirmation_nonce"),
    )
    audit(
        "campaign.Consent",
        hidden=("ip", "user_agent", "confirmed_ip", "confirmed_user_agent"),
    )
    audit("campaign.ConsentText")
    audit("campaign.Story")
    audit("campaign.Campaign")

    # Staff: accounts, their roles, and their second factors (created, renamed, confirmed,
    # deleted; not the counters every login moves, and never a secret).
    audit("auth.User", exclude=("password", "last_login"), m2m=("groups", "user_permissions"))
    audit("auth.Group", m2m=("permissions",))
    audit("otp_totp.TOTPDevice", only=("user", "name", "confirmed"))
    audit("otp_static.StaticDevice", only=("user", "name", "confirmed"))
    if apps.is_installed("django_otp_webauthn"):
        audit("django_otp_webauthn.WebAuthnCredential", only=("user", "name", "confirmed"))


class AuditedFromLoad(models.Model):
    """A model whose saves with update_fields are audited against the values it was loaded
    (or last saved) with, instead of auditlog reading the row back before every save: a full
    SELECT per update, two of a gift's twenty-odd round trips on the Stripe drain's path.

    For rows changed under a row lock (SELECT ... FOR UPDATE), as the drain's handlers do, the
    loaded values are the row's. Saves without update_fields (admin forms) and instances that
    were neither loaded nor saved go auditlog's usual way.
    """

    class Meta:
        abstract = True

    _audit_before: dict[str, Any] | None = None

    def save(self, *args: Any, update_fields: Iterable[str] | None = None, **kwargs: Any) -> None:
        before = self._audit_before
        if update_fields is None or before is None or auditlog_disabled.get():
            super().save(*args, update_fields=update_fields, **kwargs)
            self._audit_loaded()
            return
        fields = list(update_fields)
        with disable_auditlog():  # this save's entry is written below, from the loaded values
            super().save(*args, update_fields=fields, **kwargs)
        self.audit_written(fields)

    def audit_written(self, fields: list[str]) -> None:
        """The entry for `fields` written to the row, as a save of them would write it: by
        save() above, or by the caller's own UPDATE of many rows (donations.gift_batch)."""
        if self._audit_before is None:
            raise ValueError("an instance neither loaded nor saved has no values to audit from")
        old = copy.copy(self)
        old.__dict__.update(self._audit_before)
        changes = _diff(old, self, fields)
        if changes:
            from auditlog.models import LogEntry

            _log(self, LogEntry.Action.UPDATE, changes)
        self._audit_loaded()

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Self:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._audit_before = dict(zip(field_names, values, strict=True))
        return instance

    def _audit_loaded(self) -> None:
        """What the row holds now, after this instance's save."""
        self._audit_before = {
            f.attname: getattr(self, f.attname) for f in self._meta.concrete_fields
        }


def created_entry(instance: models.Model) -> Any:
    """auditlog's entry for a row just inserted with its receiver off (`disable_auditlog`),
    unsaved, for a path that writes it with its other rows in one statement
    (config.rows.rows_insert): a sign-up's supporter."""
    from auditlog.models import LogEntry

    return _entry_unsaved(instance, LogEntry.Action.CREATE, _diff(None, instance))


def _diff(old: models.Model | None, new: models.Model, fields: list[str] | None = None) -> Any:
    """model_instance_diff(old, new, fields), the per-model part worked out once (audit_diff)."""
    if getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False):
        return model_instance_diff(old, new, fields_to_check=fields, use_json_for_changes=True)
    return created_diff(new) if old is None else updated_diff(old, new, fields)


def _entry_unsaved(instance: models.Model, action: int, changes: Any) -> Any:
    """What auditlog's log_create would write, unsaved: built by log_create itself, with the
    pre_save signal its save would send (auditlog's context sets the actor there)."""
    from auditlog.models import LogEntry

    entry = _unsaved_entries().log_create(instance, action=action, changes=changes)
    pre_save.send(sender=LogEntry, instance=entry, raw=False, using="default", update_fields=None)
    return entry


@functools.cache
def _unsaved_entries() -> Any:
    """auditlog's LogEntry manager, whose create() builds the entry without saving it."""
    from auditlog.models import LogEntry, LogEntryManager

    class Unsaved(LogEntryManager):
        def create(self, **kwargs: Any) -> Any:
            return self.model(**kwargs)

    entries = Unsaved()
    entries.model = LogEntry
    return entries


# Entries kept by entries_deferred(), None outside it.
_deferred: ContextVar[list[Any] | None] = ContextVar("audit_entries_deferred", default=None)


@contextmanager
def entries_deferred() -> Iterator[None]:
    """Within the block, the entries of AuditedFromLoad's updates and of rows inserted through
    `inserted` are kept and written in one statement when the block ends without an error: a
    drain batch's entries in one round trip instead of one each. Only for a block whose every
    error rolls back the whole transaction: an entry kept for a change that a savepoint undid
    would be written all the same."""
    token = _deferred.set([])
    try:
        yield
        rows_insert(_deferred.get() or [])
    finally:
        _deferred.reset(token)


def _log(instance: models.Model, action: int, changes: Any) -> None:
    from auditlog.models import LogEntry

    pending = _deferred.get()
    if pending is None:
        LogEntry.objects.log_create(instance, action=action, changes=changes)
    else:
        pending.append(_entry_unsaved(instance, action, changes))


def inserted(instance: models.Model, *, using: str) -> None:
    """post_save for a row inserted without save() (INSERT ... ON CONFLICT), as create() would
    send it: auditlog's receiver writes its entry, or entries_deferred keeps it."""
    from auditlog.models import LogEntry

    instance._state.adding, instance._state.db = False, using
    deferring = _deferred.get() is not None
    with disable_auditlog() if deferring else nullcontext():
        post_save.send(
            sender=type(instance),
            instance=instance,
            created=True,
            update_fields=None,
            raw=False,
            using=using,
        )
    if deferring and not auditlog_disabled.get() and auditlog.contains(type(instance)):
        _log(instance, LogEntry.Action.CREATE, _diff(None, instance))


class AuditActorMiddleware(AuditlogMiddleware):
    """auditlog's middleware (the request's user becomes the actor), keeping the client address
    for staff only: a supporter's address on a public page is personal data that erasure could
    not reach in the log."""

    def get_extra_data(self, request: HttpRequest) -> dict[str, Any]:
        data: dict[str, Any] = super().get_extra_data(request)
        actor = data.get("actor")
        if actor is None or not actor.is_staff:
            data["remote_addr"] = None
            data["remote_port"] = None
        else:
            # auditlog reads the first X-Forwarded-For entry, which the client writes itself;
            # the one reading that trusts only the configured proxies (config.client_address).
            data["remote_addr"] = client_ip(request)
        return data
