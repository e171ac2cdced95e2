"""Where personal data about a supporter lives, for the AVG (GDPR) rights of access and erasure.

Every app that stores personal data about a supporter registers a ``PersonalDataProvider``:

    # donations/apps.py
    def ready(self) -> None:
        from campaign.personal_data import PersonalDataProvider, register, model_row
        register(PersonalDataProvider(
            name="donations.gifts",
            section="gifts",
            models=(Gift,),
            export=lambda s: [model_row(g) for g in Gift.objects.filter(supporter=s)],
            erase=gifts_pseudonymise,  # (supporter, pseudonym) -> None, in the erase transaction
        ))

- ``export`` returns one dict per row. ``model_row`` serialises every concrete field, so a field
  added later is exported without anyone remembering to; ``tests/campaign/test_personal_data.py``
  fails when a model that points at Supporter is not covered by a provider, or when a field of a
  covered model is neither exported nor listed in ``not_exported`` with the reason it is not
  personal data.
- ``erase`` runs inside the erase transaction, providers in reverse registration order (campaign
  registers first, so it scrubs the supporter row last, after the others read what they need).
  An app may instead, or as well, listen to ``campaign.events.supporter_erased``. Rows the law
  makes us keep (gifts, 7 years) stay, with the person replaced by the pseudonym.
- Sections: "supporter", "consents", "history", "emails_sent" and "gifts" are always present in
  the export (empty when nothing is held); a provider may add its own.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from campaign.models import Consent, Supporter, SupporterAudit

EXPORT_FORMAT = "save-the-survivors.supporter-export.v1"
STANDARD_SECTIONS = ("supporter", "consents", "history", "emails_sent", "gifts")


@dataclass(frozen=True)
class PersonalDataProvider:
    name: str
    section: str
    models: tuple[type[models.Model], ...]
    export: Callable[[Supporter], list[dict[str, Any]]]
    erase: Callable[[Supporter, str], None] | None = None
    # "Model.field" -> why it is not personal data (and so not exported).
    not_exported: Mapping[str, str] = field(default_factory=dict)


_providers: dict[str, PersonalDataProvider] = {}


def register(provider: PersonalDataProvider) -> PersonalDataProvider:
    _providers[provider.name] = provider
    return provider


def providers() -> list[PersonalDataProvider]:
    return list(_providers.values())


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def model_row(instance: models.Model, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every concrete field of the row by name (foreign keys as ids), JSON-ready."""
    return {
        f.name: _json_value(getattr(instance, f.attname))
        for f in instance._meta.concrete_fields
        if f.name not in exclude
    }


def export_document(supporter: Supporter) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": timezone.now().isoformat(),
        "found": True,
    }
    sections: dict[str, list[dict[str, Any]]] = {name: [] for name in STANDARD_SECTIONS}
    for provider in providers():
        sections.setdefault(provider.section, []).extend(provider.export(supporter))
    supporter_rows = sections.pop("supporter")
    document["supporter"] = supporter_rows[0] if supporter_rows else None
    document.update(sections)
    document["sources"] = [provider.name for provider in providers()]
    return document


def not_found_document() -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": timezone.now().isoformat(),
        "found": False,
        "supporter": None,
    }
    document.update({name: [] for name in STANDARD_SECTIONS if name != "supporter"})
    return document


def erase_all(supporter: Supporter, pseudonym: str) -> None:
    for provider in reversed(providers()):
        if provider.erase is not None:
            provider.erase(supporter, pseudonym)


# --- campaign's own personal data -------------------------------------------------------------

_SUPPORTER_SECRETS = ("link_secret", "confirmation_nonce")


def _supporter_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [model_row(supporter, exclude=_SUPPORTER_SECRETS)]


def _supporter_erase(supporter: Supporter, pseudonym: str) -> None:
    """The row stays as a tombstone (other apps' rows may point at it) with nothing personal."""
    now = timezone.now()
    supporter.email = None
    supporter.first_name = ""
    supporter.source_page = ""
    supporter.source_referrer = ""
    supporter.utm_source = ""
    supporter.utm_medium = ""
    supporter.utm_campaign = ""
    supporter.utm_term = ""
    supporter.utm_content = ""
    supporter.pseudonym = pseudonym
    supporter.erased_at = now
    supporter.status = Supporter.Status.ERASED
    supporter.confirmation_nonce = ""
    # Every preference/unsubscribe link sent so far stops working.
    supporter.link_secret = uuid.uuid4().hex[:12]
    supporter.save()
    # The staff back office's change log names the objects it touched.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Supporter), object_id=str(supporter.pk)
    ).update(object_repr=pseudonym, change_message="")


def _consents_export(supporter: Supporter) -> list[dict[str, Any]]:
    rows = []
    for consent in Consent.objects.filter(supporter=supporter).select_related("text"):
        row = model_row(consent)
        # What the person agreed to, word for word.
        row["wording"] = {
            "topic": consent.text.topic,
            "language": consent.text.language,
            "version": consent.text.version,
            "text": consent.text.text,
        }
        rows.append(row)
    return rows


def _consents_erase(supporter: Supporter, pseudonym: str) -> None:
    Consent.objects.filter(supporter=supporter).delete()


def _history_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [
        model_row(entry, exclude=("staff_user",))
        for entry in SupporterAudit.objects.filter(supporter=supporter)
    ]


def _emails_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [
        {
            "source": "campaign",
            "kind": entry.details.get("kind", ""),
            "sent_at": _json_value(entry.created_at),
        }
        for entry in SupporterAudit.objects.filter(
            supporter=supporter, action=SupporterAudit.Action.CONFIRMATION_SENT
        )
    ]


register(
    PersonalDataProvider(
        name="campaign.supporter",
        section="supporter",
        models=(Supporter,),
        export=_supporter_export,
        erase=_supporter_erase,
        not_exported={
            "Supporter.link_secret": "a key in the signed links, not information about the person",
            "Supporter.confirmation_nonce": "a one-time key in the confirmation link",
        },
    )
)
register(
    PersonalDataProvider(
        name="campaign.consents",
        section="consents",
        models=(Consent,),
        export=_consents_export,
        erase=_consents_erase,
    )
)
register(
    PersonalDataProvider(
        name="campaign.history",
        section="history",
        models=(SupporterAudit,),
        export=_history_export,
        # Kept after erasure: it holds no personal values and points at the tombstone row.
        erase=None,
        not_exported={
            "SupporterAudit.staff_user": "identifies the staff member who acted, not the supporter",
        },
    )
)
register(
    PersonalDataProvider(
        name="campaign.confirmation_emails",
        section="emails_sent",
        models=(),
        export=_emails_export,
    )
)
