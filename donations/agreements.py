"""ANBI periodic-gift agreements (overeenkomst periodieke gift) for monthly donors.

A periodic gift is fully tax-deductible in the Netherlands when it is laid down in an
agreement for at least five years, in fixed yearly amounts, to an ANBI named with its RSIN,
under a unique transaction number (Belastingdienst, "Periodieke giften"). We record the
agreement against the monthly gift (and so its SEPA mandate), draw the PDF to sign, and warn
finance when a year's gifts under the monthly gift fall short of the agreed yearly amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from donations.models import (
    AGREEMENT_MIN_TERM_YEARS,
    AgreementState,
    PeriodicGiftAgreement,
    RecurringDonation,
    RecurringState,
)
from donations.pdf import FinanceDocument
from donations.statements import LANGUAGES, gifts_kept_in_year
from donations.templatetags.donations import euros

log = structlog.get_logger(__name__)

ENDED = (RecurringState.CANCELLED, RecurringState.LAPSED)
NUMBER_PREFIX = "STS"


class AgreementError(ValueError):
    """An agreement that cannot be made as asked: nothing is stored."""


@dataclass(frozen=True)
class DonorDetails:
    """What the agreement records about the donor (never the BSN: filled in by hand)."""

    name: str
    email: str = ""
    address: str = ""
    birth_date: date | None = None
    birth_place: str = ""


def agreement_check(
    *, recurring: RecurringDonation, yearly_amount: int, start_year: int, term_years: int
) -> None:
    """Raise AgreementError with the reason when these terms cannot make an agreement."""
    this_year = timezone.localdate().year
    if term_years < AGREEMENT_MIN_TERM_YEARS:
        raise AgreementError(
            _("A periodic gift must run at least %(minimum)s years; %(term)s is too short.")
            % {"minimum": AGREEMENT_MIN_TERM_YEARS, "term": term_years}
        )
    if yearly_amount <= 0:
        raise AgreementError(_("The yearly amount must be more than zero."))
    if not this_year <= start_year <= this_year + 1:
        # The agreement must exist before the gifts it covers; a year ahead is plenty.
        raise AgreementError(
            _("The first year must be %(this)s or %(next)s.")
            % {"this": this_year, "next": this_year + 1}
        )
    if recurring.state in ENDED:
        raise AgreementError(_("This monthly gift has ended; an agreement needs a running one."))
    overlapping = (
        PeriodicGiftAgreement.objects.filter(recurring=recurring)
        .exclude(state=AgreementState.CANCELLED)
        .annotate(last=F("start_year") + F("term_years") - 1)
        .filter(start_year__lte=start_year + term_years - 1, last__gte=start_year)
    )
    if overlapping.exists():
        raise AgreementError(
            _("This monthly gift already has an agreement for some of these years.")
        )


def _next_number(start_year: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('donations_agreement_number_seq')")
        (value,) = cursor.fetchone()
    return f"{NUMBER_PREFIX}-{start_year}-{int(value):06d}"


def agreement_create(
    *,
    recurring: RecurringDonation,
    yearly_amount: int,
    start_year: int,
    term_years: int,
    donor: DonorDetails | None = None,
    created_by: Any = None,
) -> PeriodicGiftAgreement:
    """Record a new agreement (awaiting signature) with its own transaction number, the
    charity's name and RSIN, the mandate reference and the donor's details as they are now."""
    donor = donor or DonorDetails(name=recurring.donor_name, email=recurring.donor_email)
    with transaction.atomic():
        # Locked, so two people recording an agreement for one gift at once cannot both pass
        # the overlap check.
        RecurringDonation.objects.select_for_update().filter(pk=recurring.pk).first()
        agreement_check(
            recurring=recurring,
            yearly_amount=yearly_amount,
            start_year=start_year,
            term_years=term_years,
        )
        agreement = PeriodicGiftAgreement.objects.create(
            recurring=recurring,
            transaction_number=_next_number(start_year),
            yearly_amount=yearly_amount,
            currency=recurring.currency,
            start_year=start_year,
            term_years=term_years,
            charity_name=settings.CHARITY_NAME,
            charity_rsin=settings.CHARITY_RSIN,
            mandate_reference=recurring.mandate_reference,
            donor_name=donor.name or recurring.donor_name,
            donor_email=donor.email or recurring.donor_email,
            donor_address=donor.address,
            donor_birth_date=donor.birth_date,
            donor_birth_place=donor.birth_place,
            language=recurring.language if recurring.language in LANGUAGES else "nl",
            created_by=created_by,
        )
    log.info("agreements.created", agreement_id=agreement.pk, number=agreement.transaction_number)
    return agreement


def agreement_sign(
    *, agreement: PeriodicGiftAgreement, signed_at: datetime | None = None
) -> PeriodicGiftAgreement:
    """The signed paper came back: only an agreement awaiting signature can be signed.

    A locked read and a save (not a queryset update) so the audit log records the change."""
    with transaction.atomic():
        locked = PeriodicGiftAgreement.objects.select_for_update().get(pk=agreement.pk)
        if locked.state != AgreementState.DRAFT:
            raise AgreementError(_("Only an agreement awaiting signature can be signed."))
        locked.state = AgreementState.SIGNED
        locked.signed_at = signed_at or timezone.now()
        locked.save(update_fields=["state", "signed_at"])
    return locked


def agreement_cancel(*, agreement: PeriodicGiftAgreement) -> PeriodicGiftAgreement:
    with transaction.atomic():
        locked = PeriodicGiftAgreement.objects.select_for_update().get(pk=agreement.pk)
        if locked.state != AgreementState.CANCELLED:
            locked.state = AgreementState.CANCELLED
            locked.save(update_fields=["state"])
    return locked


# --- the shortfall check -------------------------------------------------------------------


@dataclass(frozen=True)
class Shortfall:
    agreement: PeriodicGiftAgreement
    year: int
    received: int  # cents kept from gifts of the monthly gift booked in the year

    @property
    def missing(self) -> int:
        return self.agreement.yearly_amount - self.received


def agreements_in_force(year: int) -> list[PeriodicGiftAgreement]:
    return list(
        PeriodicGiftAgreement.objects.exclude(state=AgreementState.CANCELLED)
        .annotate(last=F("start_year") + F("term_years") - 1)
        .filter(start_year__lte=year, last__gte=year)
        .select_related("recurring")
        .order_by("transaction_number")
    )


def received_per_recurring(year: int, recurring_ids: list[int]) -> dict[int, int]:
    """Cents kept per monthly gift from its gifts booked in the year (refunds deducted)."""
    rows = (
        gifts_kept_in_year(year)
        .filter(donation__recurring_id__in=recurring_ids)
        .values("donation__recurring_id")
        .annotate(received=Sum("kept"))
    )
    return {row["donation__recurring_id"]: int(row["received"]) for row in rows}


def agreements_short(*, year: int) -> list[Shortfall]:
    """Agreements in force in the year whose gifts that year add up to less than agreed."""
    agreements = agreements_in_force(year)
    received = received_per_recurring(year, [a.recurring_id for a in agreements])
    return [
        Shortfall(agreement=a, year=year, received=received.get(a.recurring_id, 0))
        for a in agreements
        if received.get(a.recurring_id, 0) < a.yearly_amount
    ]


# --- the PDF to sign -----------------------------------------------------------------------


def agreement_pdf(agreement: PeriodicGiftAgreement) -> bytes:
    """The agreement with what the Belastingdienst's model asks: the donor, the ANBI and its
    RSIN, the yearly amount, the term and first year, the transaction number, how it is paid."""
    language = agreement.language if agreement.language in LANGUAGES else "nl"
    with translation.override(language):
        document = FinanceDocument(
            title=_("Periodic gift agreement %(number)s")
            % {"number": agreement.transaction_number},
            language=language,
            letterhead=[
                agreement.charity_name,
                settings.CHARITY_ADDRESS,
                _("RSIN %(rsin)s") % {"rsin": agreement.charity_rsin},
            ],
        )
        document.heading(_("Agreement for a periodic gift in money"))
        document.fields(
            [(_("Transaction number"), agreement.transaction_number)],
        )
        document.subheading(_("1. The donor"))
        birth = (
            formats.date_format(agreement.donor_birth_date, "DATE_FORMAT")
            if agreement.donor_birth_date
            else ""
        )
        document.fields(
            [
                (_("Name"), agreement.donor_name),
                (_("Address"), agreement.donor_address),
                (_("Email"), agreement.donor_email),
                (_("Date of birth"), birth),
                (_("Place of birth"), agreement.donor_birth_place),
                (_("Citizen service number (BSN)"), "_" * 20),
            ]
        )
        document.subheading(_("2. The institution"))
        document.fields(
            [
                (_("Name"), agreement.charity_name),
                (_("RSIN"), agreement.charity_rsin),
                (_("Status"), _("public benefit organisation (ANBI)")),
            ]
        )
        document.subheading(_("3. The gift"))
        document.fields(
            [
                (_("Yearly amount"), euros(agreement.yearly_amount)),
                (_("In words"), ""),
                (_("First year"), str(agreement.start_year)),
                (
                    _("Term"),
                    _("%(years)s years (%(first)s to %(last)s)")
                    % {
                        "years": agreement.term_years,
                        "first": agreement.start_year,
                        "last": agreement.end_year,
                    },
                ),
                (_("Payment"), _("monthly by SEPA Direct Debit")),
                (_("Mandate reference"), agreement.mandate_reference or "-"),
            ]
        )
        document.paragraph(
            _(
                "The donor undertakes to give the amount above to the institution every year "
                "for the term above. The yearly gifts end at the latest on the death of the "
                "donor, or earlier when the institution loses its ANBI status, or when the "
                "donor becomes unfit for work or involuntarily unemployed."
            )
        )
        document.signature_lines(
            [_("Signature of the donor"), _("For the institution")],
        )
        document.paragraph(_("Place and date:"), size=9)
        return document.bytes()


def agreement_filename(agreement: PeriodicGiftAgreement) -> str:
    return f"{agreement.transaction_number}.pdf"
