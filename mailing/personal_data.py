"""The mailing side of the AVG rights: what we sent a person, and their place in sequences.

Erasure removes the sequence enrolments; deliveries and gift attributions stay as anonymous
statistics (they point at the supporter's tombstone row, which holds only a pseudonym).
Suppressions are hashes of addresses and are kept, so an erased address that bounced or
complained is still never mailed.
"""

from __future__ import annotations

from typing import Any

from campaign.models import Supporter
from campaign.personal_data import PersonalDataProvider, model_row, register
from mailing.models import Delivery, Enrollment, GiftAttribution


def emails_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [
        {"source": "mailing", **model_row(d)}
        for d in Delivery.objects.filter(supporter=supporter).order_by("id")
    ]


def sequences_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [model_row(e) for e in Enrollment.objects.filter(supporter=supporter).order_by("id")]


def attributions_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [
        model_row(g) for g in GiftAttribution.objects.filter(supporter=supporter).order_by("id")
    ]


def sequences_erase(supporter: Supporter, pseudonym: str) -> None:
    Enrollment.objects.filter(supporter=supporter).delete()


def register_providers() -> None:
    register(
        PersonalDataProvider(
            name="mailing.deliveries",
            section="emails_sent",
            models=(Delivery,),
            export=emails_export,
        )
    )
    register(
        PersonalDataProvider(
            name="mailing.sequences",
            section="sequences",
            models=(Enrollment,),
            export=sequences_export,
            erase=sequences_erase,
        )
    )
    register(
        PersonalDataProvider(
            name="mailing.gift_attributions",
            section="gift_attributions",
            models=(GiftAttribution,),
            export=attributions_export,
        )
    )
