"""The donations side of the AVG rights: gifts in the export, pseudonymised on erasure.

Dutch fiscal law makes us keep gift records for 7 years, so erasure keeps every row and
replaces the person with the pseudonym; the ledger (donations_transaction) holds no personal
data at all. Stored Stripe event payloads repeat the donor's address and name: those are
scrubbed too.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Q

from campaign.models import Supporter
from campaign.personal_data import PersonalDataProvider, model_row, register
from donations.models import AnnualStatement, Donation, PeriodicGiftAgreement, RecurringDonation

_SECRETS = ("request_token",)


def _owned_by(supporter: Supporter) -> Q:
    """Rows linked to the supporter, or given with their address but never linked."""
    match = Q(supporter=supporter)
    if supporter.email:
        match |= Q(supporter__isnull=True, donor_email__iexact=supporter.email)
    return match


def gifts_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [
        model_row(d, exclude=_SECRETS)
        for d in Donation.objects.filter(_owned_by(supporter)).order_by("created_at")
    ]


def monthly_gifts_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [
        model_row(r)
        for r in RecurringDonation.objects.filter(_owned_by(supporter)).order_by("created_at")
    ]


def gifts_pseudonymise(supporter: Supporter, pseudonym: str) -> None:
    """Runs inside the erase transaction, before campaign blanks the supporter's address."""
    emails = {
        e.lower()
        for e in Donation.objects.filter(_owned_by(supporter))
        .exclude(donor_email="")
        .values_list("donor_email", flat=True)
    }
    names = set(
        Donation.objects.filter(_owned_by(supporter))
        .exclude(donor_name="")
        .values_list("donor_name", flat=True)
    )
    if supporter.email:
        emails.add(supporter.email.lower())
    owned = _owned_by(supporter)
    Donation.objects.filter(owned).update(
        supporter=supporter,
        donor_name=pseudonym,
        donor_email="",
        client_ip=None,
        utm={},
        source_token="",
    )
    RecurringDonation.objects.filter(owned).update(
        supporter=supporter, donor_name=pseudonym, donor_email=""
    )
    _scrub_event_payloads(emails, names, pseudonym)


def statements_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [
        model_row(s)
        for s in AnnualStatement.objects.filter(_owned_by(supporter)).order_by("year", "pk")
    ]


def statements_pseudonymise(supporter: Supporter, pseudonym: str) -> None:
    """The record of what was sent stays (fiscal papers), without the person."""
    AnnualStatement.objects.filter(_owned_by(supporter)).update(
        supporter=supporter, donor_email="", donor_name=pseudonym
    )


def _agreements_of(supporter: Supporter) -> Q:
    match = Q(recurring__in=RecurringDonation.objects.filter(_owned_by(supporter)))
    if supporter.email:
        match |= Q(donor_email__iexact=supporter.email)
    return match


def agreements_export(supporter: Supporter) -> list[dict[str, Any]]:
    return [
        model_row(a)
        for a in PeriodicGiftAgreement.objects.filter(_agreements_of(supporter)).order_by("pk")
    ]


def agreements_pseudonymise(supporter: Supporter, pseudonym: str) -> None:
    """Kept 7 years like the gifts it covers; the donor's details go. Runs before the gifts'
    erasure (providers erase in reverse order), while monthly gifts still carry the address."""
    PeriodicGiftAgreement.objects.filter(_agreements_of(supporter)).update(
        donor_name=pseudonym,
        donor_email="",
        donor_address="",
        donor_birth_date=None,
        donor_birth_place="",
    )


def _scrub_event_payloads(emails: set[str], names: set[str], pseudonym: str) -> None:
    """Replace the person's address and name inside stored Stripe events (case-insensitive)."""
    with connection.cursor() as cursor:
        for value in sorted(emails) + sorted(n for n in names if len(n) >= 3):
            pattern = _regex_literal(value)
            cursor.execute(
                "UPDATE donations_stripeevent "
                "SET payload = regexp_replace(payload::text, %s, %s, 'gi')::jsonb "
                "WHERE payload::text ~* %s",
                [pattern, pseudonym, pattern],
            )


def _regex_literal(value: str) -> str:
    special = set(r"\.^$|?*+()[]{}")
    return "".join("\\" + c if c in special else c for c in value)


def register_provider() -> None:
    register(
        PersonalDataProvider(
            name="donations.monthly_gifts",
            section="monthly_gifts",
            models=(RecurringDonation,),
            export=monthly_gifts_export,
        )
    )
    register(
        PersonalDataProvider(
            name="donations.gifts",
            section="gifts",
            models=(Donation,),
            export=gifts_export,
            erase=gifts_pseudonymise,
            not_exported={
                "Donation.request_token": "a one-time hash of the donate form, not about the "
                "person",
            },
        )
    )
    register(
        PersonalDataProvider(
            name="donations.annual_statements",
            section="annual_statements",
            models=(AnnualStatement,),
            export=statements_export,
            erase=statements_pseudonymise,
        )
    )
    register(
        PersonalDataProvider(
            name="donations.gift_agreements",
            section="gift_agreements",
            models=(PeriodicGiftAgreement,),
            export=agreements_export,
            erase=agreements_pseudonymise,
        )
    )
