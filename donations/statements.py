"""Annual statements (jaaroverzicht): one PDF per donor listing the gifts of a year, emailed once.

What a statement shows: every gift the ledger *received* in the calendar year (the gift row's
booking date in Europe/Amsterdam), less what went back to the donor since (refunds and lost
chargebacks, net of chargebacks won). A gift refunded in full is left out: it is no gift for
the tax return. A partly refunded gift shows the amount kept, marked as such. Gifts are grouped
per donor by email address (lowercased); erased donors (no address) get no statement.

Sending: a run prepares one AnnualStatement row per donor (unique per year and address), then
mail-queue tasks send batches of row ids; each row is locked, sent and marked in one
transaction, so a retried batch or a second run for the year emails nobody twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import structlog
from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from campaign.mail_headers import message_id as mail_message_id
from donations.donor_email import donor_email
from donations.exports import AMSTERDAM, period_bounds
from donations.models import (
    AnnualStatement,
    Frequency,
    Method,
    StatementRun,
    StatementRunState,
    Transaction,
    TransactionKind,
)
from donations.pdf import FinanceDocument
from donations.templatetags.donations import euros
from worker.outbox import enqueue

log = structlog.get_logger(__name__)

LANGUAGES = ("nl", "en")
FIRST_YEAR = 2000  # nothing older is in any ledger of ours
CORRECTIONS = (TransactionKind.REFUND, TransactionKind.DISPUTE, TransactionKind.DISPUTE_WON)


class StatementError(ValueError):
    """Bad input for a statement run (a future year, a run already busy): nothing is changed."""


@dataclass(frozen=True)
class StatementGift:
    received_at: datetime  # in Europe/Amsterdam
    amount: int  # cents kept: the gift less what went back to the donor
    refunded: int  # cents that went back (0 for most gifts)
    currency: str
    method: str
    frequency: str


@dataclass
class DonorStatement:
    """One donor's gifts of a year, as the ledger has them now."""

    year: int
    email: str
    name: str = ""
    language: str = "nl"
    supporter_id: int | None = None
    gifts: list[StatementGift] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(gift.amount for gift in self.gifts)

    @property
    def currency(self) -> str:
        return self.gifts[0].currency if self.gifts else settings.DONATION_CURRENCY


def check_year(year: int) -> None:
    """Only a year that has ended: statements are one per donor and year, so a run during the
    year would state half of it and leave the rest of the year's gifts on no statement."""
    last = timezone.localdate().year - 1
    if not FIRST_YEAR <= year <= last:
        raise StatementError(
            _("Choose a year that has ended, from %(first)s to %(last)s (not %(year)s).")
            % {"first": FIRST_YEAR, "last": last, "year": year}
        )


# --- reads ---------------------------------------------------------------------------------


def gifts_kept_in_year(year: int) -> QuerySet[Transaction]:
    """The gift rows booked in the year (Amsterdam), annotated with `back` (cents that went
    back to the donor since) and `kept` (the rest); fully refunded gifts left out."""
    start, end = period_bounds(date(year, 1, 1), date(year, 12, 31))
    corrections = (
        Transaction.objects.filter(donation=OuterRef("donation"), kind__in=CORRECTIONS)
        .values("donation")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        Transaction.objects.filter(
            kind=TransactionKind.GIFT,
            occurred_at__gte=start,
            occurred_at__lt=end,
            donation__isnull=False,
        )
        .annotate(
            back=-Coalesce(Subquery(corrections), Value(0)),
            kept=F("amount") - F("back"),
        )
        .filter(kept__gt=0)
    )


def year_gifts(year: int) -> QuerySet[Transaction]:
    """The year's kept gifts of donors with an address, by address and date."""
    return (
        gifts_kept_in_year(year)
        .exclude(donation__donor_email="")
        .annotate(email=Lower("donation__donor_email"))
        .select_related("donation")
        .order_by("email", "occurred_at", "pk")
    )


def _gift(row: Transaction) -> StatementGift:
    donation = row.donation
    assert donation is not None  # year_gifts excludes gifts without a donation
    return StatementGift(
        received_at=row.occurred_at.astimezone(AMSTERDAM),
        amount=row.kept,  # type: ignore[attr-defined]  # annotated by year_gifts
        refunded=row.back,  # type: ignore[attr-defined]
        currency=row.currency,
        method=donation.method,
        frequency=donation.frequency,
    )


def _group(rows: Iterator[Transaction], year: int) -> Iterator[DonorStatement]:
    current: DonorStatement | None = None
    for row in rows:
        email: str = row.email  # type: ignore[attr-defined]  # annotated by year_gifts
        if current is None or current.email != email:
            if current is not None:
                yield current
            current = DonorStatement(year=year, email=email)
        donation = row.donation
        assert donation is not None
        # The latest gift of the year speaks for the donor: name, language, supporter.
        current.name = donation.donor_name or current.name
        current.language = donation.language if donation.language in LANGUAGES else "nl"
        current.supporter_id = donation.supporter_id or current.supporter_id
        current.gifts.append(_gift(row))
    if current is not None:
        yield current


def statement_donors(*, year: int) -> Iterator[DonorStatement]:
    """Every donor with gifts in the year, by address, each with their gifts."""
    yield from _group(year_gifts(year).iterator(chunk_size=2000), year)


def donor_statements(*, year: int, emails: list[str]) -> dict[str, DonorStatement]:
    """The statements of these donors (lowercased addresses), in one query: a batch's worth.
    Donors without gifts in the year are missing from the answer."""
    # `email` is year_gifts' annotation (the stubs see only model fields).
    rows = year_gifts(year).filter(**{"email__in": emails})
    return {statement.email: statement for statement in _group(iter(rows), year)}


def donor_statement(*, year: int, email: str) -> DonorStatement:
    """One donor's statement of the year (no gifts when they have none)."""
    rows = year_gifts(year).filter(donation__donor_email__iexact=email.strip())
    found = next(_group(iter(rows), year), None)
    return found or DonorStatement(year=year, email=email.strip().lower())


# --- the PDF -------------------------------------------------------------------------------


def statement_pdf(statement: DonorStatement) -> bytes:
    """The statement in the donor's language, with the charity's name, RSIN and ANBI status."""
    with translation.override(statement.language):
        document = FinanceDocument(
            title=_("Annual statement %(year)s") % {"year": statement.year},
            language=statement.language,
            letterhead=[
                settings.CHARITY_NAME,
                settings.CHARITY_ADDRESS,
                _("RSIN %(rsin)s") % {"rsin": settings.CHARITY_RSIN},
            ],
        )
        document.paragraph(statement.name or statement.email)
        document.heading(_("Your gifts in %(year)s") % {"year": statement.year})
        document.paragraph(
            _(
                "Thank you for standing by children on the move. These are the gifts "
                "%(charity)s received from you in %(year)s."
            )
            % {"charity": settings.CHARITY_NAME, "year": statement.year}
        )
        rows = [
            [
                formats.date_format(gift.received_at.date(), "DATE_FORMAT"),
                _frequency_label(gift),
                str(Method(gift.method).label),
                euros(gift.amount),
            ]
            for gift in statement.gifts
        ]
        document.table(
            [_("Date"), _("Gift"), _("Payment method"), _("Amount")],
            rows,
            widths=[45, 50, 45, 30],
            align="LLLR",
            footer=[_("Total"), "", "", euros(statement.total)],
        )
        document.paragraph(
            _("Refunded gifts are not included; a partly refunded gift shows the amount we kept."),
            size=9,
        )
        document.subheading(_("Tax deduction"))
        document.paragraph(anbi_sentence())
        document.paragraph(
            _("Keep this statement with your tax records. Drawn up on %(date)s.")
            % {"date": formats.date_format(timezone.localdate(), "DATE_FORMAT")},
            size=9,
        )
        return document.bytes()


def anbi_sentence() -> str:
    return _(
        "%(charity)s is recognised by the Dutch Tax Administration as a public benefit "
        "organisation (ANBI), RSIN %(rsin)s. Gifts to an ANBI may be deductible from your "
        "income tax, within the legal limits."
    ) % {"charity": settings.CHARITY_NAME, "rsin": settings.CHARITY_RSIN}


def _frequency_label(gift: StatementGift) -> str:
    label = str(Frequency(gift.frequency).label) if gift.frequency in Frequency else gift.frequency
    if gift.refunded:
        return _("%(kind)s (partly refunded)") % {"kind": label}
    return label


def statement_filename(statement: DonorStatement | AnnualStatement) -> str:
    with translation.override(statement.language):
        return _("annual-statement-%(year)s.pdf") % {"year": statement.year}


# --- runs ----------------------------------------------------------------------------------


def statement_run_start(*, year: int, created_by: Any = None) -> StatementRun:
    """Start a run for the year; its preparation and sending happen in the mail queue."""
    check_year(year)
    try:
        with transaction.atomic():
            run = StatementRun.objects.create(year=year, created_by=created_by)
            enqueue("donations.tasks.statement_run_prepare", run.pk)
    except IntegrityError:
        raise StatementError(
            _("A run for %(year)s is still busy; wait for it to finish.") % {"year": year}
        ) from None
    log.info("statements.run_started", run_id=run.pk, year=year)
    return run


def statement_run_here(
    *, year: int, on_batch: Callable[[StatementRun], None] | None = None
) -> StatementRun:
    """A whole run in this process (the command line), batch after batch; same rows, same
    once-per-donor guarantee as a run through the mail queue."""
    check_year(year)
    try:
        run = StatementRun.objects.create(year=year)
    except IntegrityError:
        raise StatementError(
            _("A run for %(year)s is still busy; wait for it to finish.") % {"year": year}
        ) from None
    try:
        for batch in statement_run_prepare(run_id=run.pk, send=False):
            statement_batch_send(run_id=run.pk, statement_ids=batch)
            if on_batch is not None:
                run.refresh_from_db()
                on_batch(run)
    except Exception as error:
        statement_run_failed(run_id=run.pk, error=f"{type(error).__name__}: {error}")
        raise
    return statement_run_refresh(run_id=run.pk)


def statement_run_prepare(*, run_id: int, send: bool = True) -> list[list[int]]:
    """One row per donor of the run's year that has none yet; then the unsent rows of the
    year in batches. With `send`, each batch is queued for the mail queue after commit."""
    run = StatementRun.objects.get(pk=run_id)
    rows: list[AnnualStatement] = []
    for statement in statement_donors(year=run.year):
        rows.append(
            AnnualStatement(
                run=run,
                year=run.year,
                supporter_id=statement.supporter_id,
                donor_email=statement.email,
                donor_name=statement.name,
                language=statement.language,
                gifts=len(statement.gifts),
                total=statement.total,
                currency=statement.currency,
            )
        )
        if len(rows) >= 500:
            _insert_new(rows)
    _insert_new(rows)
    unsent = list(
        AnnualStatement.objects.filter(year=run.year, sent_at__isnull=True)
        .exclude(donor_email="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    size = settings.STATEMENT_BATCH_SIZE
    batches = [unsent[i : i + size] for i in range(0, len(unsent), size)]
    with transaction.atomic():
        StatementRun.objects.filter(pk=run.pk).update(state=StatementRunState.SENDING)
        # The one recount, before any batch can start: batches add what they send.
        statement_run_refresh(run_id=run.pk)
        if send:
            for batch in batches:
                enqueue("donations.tasks.statement_batch_send", run.pk, batch)
    log.info("statements.run_prepared", run_id=run.pk, unsent=len(unsent), batches=len(batches))
    return batches


def _insert_new(rows: list[AnnualStatement]) -> None:
    # ignore_conflicts: an earlier run of the year holds that donor's row already.
    AnnualStatement.objects.bulk_create(rows, ignore_conflicts=True)
    rows.clear()


def statement_send(
    *,
    statement_id: int,
    mailer: BaseEmailBackend | None = None,
    data: DonorStatement | None = None,
) -> bool:
    """Email one statement with its PDF; False when it was sent already (or has no gifts now).
    `data`: the donor's gifts as read for the batch (else read here)."""
    with transaction.atomic():
        statement = AnnualStatement.objects.select_for_update().get(pk=statement_id)
        if statement.sent_at is not None or not statement.donor_email:
            return False
        if data is None:
            data = donor_statement(year=statement.year, email=statement.donor_email)
        if not data.gifts:
            # Refunded in full since the run was prepared: nothing to state, nobody to email.
            statement.delete()
            return False
        data.language = statement.language
        message_id = mail_message_id("statement", f"{statement.year}-{statement.pk}")
        context = {
            "statement": statement,
            "name": statement.donor_name,
            "total": data.total,
            "charity": settings.CHARITY_NAME,
        }
        message = donor_email(
            template="donations/statements/email",
            context=context,
            to=statement.donor_email,
            language=statement.language,
            message_id=message_id,
            supporter_id=statement.supporter_id,
        )
        message.attach(statement_filename(statement), statement_pdf(data), "application/pdf")
        (mailer or mail.mailers.default).send_messages([message])
        statement.sent_at = timezone.now()
        statement.message_id = message_id
        statement.save(update_fields=["sent_at", "message_id"])
    log.info("statements.sent", statement_id=statement.pk, year=statement.year)
    return True


def statement_batch_send(*, run_id: int, statement_ids: list[int]) -> int:
    """Send a batch over one mail connection; returns how many were sent by this call.

    The batch's gifts are read in one query; each statement is then locked, sent and marked in
    its own transaction (so a retried batch repeats nobody), and the run's counters move by
    what this call did: no recount of the year per batch."""
    unsent = dict(
        AnnualStatement.objects.filter(pk__in=statement_ids, sent_at__isnull=True)
        .exclude(donor_email="")
        .values_list("pk", "donor_email")
    )
    year = StatementRun.objects.values_list("year", flat=True).get(pk=run_id)
    found = donor_statements(year=year, emails=sorted(set(unsent.values())))
    sent = 0
    mailer = mail.mailers.default
    try:
        with mailer:
            for statement_id in sorted(unsent):
                email = unsent[statement_id]
                data = found.get(email) or DonorStatement(year=year, email=email)
                sent += statement_send(statement_id=statement_id, mailer=mailer, data=data)
    finally:
        gone = AnnualStatement.objects.filter(pk__in=list(unsent)).count()
        statement_run_count(run_id=run_id, sent=sent, dropped=len(unsent) - gone)
    return sent


def statement_run_count(*, run_id: int, sent: int, dropped: int = 0) -> None:
    """Move the run's progress by what a batch did (`dropped`: statements deleted because
    their gifts were refunded in full); a sending run with all of them sent is done. Atomic
    increments, so concurrent batches need no lock."""
    if sent or dropped:
        StatementRun.objects.filter(pk=run_id).update(
            done=F("done") + sent, total=F("total") - dropped
        )
    StatementRun.objects.filter(
        pk=run_id, state=StatementRunState.SENDING, done__gte=F("total")
    ).update(state=StatementRunState.DONE, finished_at=timezone.now())


def statement_run_refresh(*, run_id: int) -> StatementRun:
    """Recount the year's sent/held statements onto the run; a sending run with every
    statement sent is done. Idempotent. Once, when a run is prepared (an earlier run of the
    year may have sent some); batches then count with statement_run_count."""
    with transaction.atomic():
        run = StatementRun.objects.select_for_update().get(pk=run_id)
        year = AnnualStatement.objects.filter(year=run.year).exclude(donor_email="")
        run.total = year.count()
        run.done = year.filter(sent_at__isnull=False).count()
        if run.state == StatementRunState.SENDING and run.done >= run.total:
            run.state = StatementRunState.DONE
            run.finished_at = timezone.now()
        run.save(update_fields=["total", "done", "state", "finished_at"])
    return run


def statement_run_failed(*, run_id: int, error: str) -> None:
    """A task gave up: the run stops (freeing the year for a new run, which resumes it)."""
    StatementRun.objects.filter(
        pk=run_id, state__in=[StatementRunState.PREPARING, StatementRunState.SENDING]
    ).update(state=StatementRunState.FAILED, last_error=error[:2000], finished_at=timezone.now())
    log.warning("statements.run_failed", run_id=run_id, error=error)


def statement_run_progress(run: StatementRun) -> dict[str, object]:
    """The JSON the back office's progress bar polls (backoffice/static/backoffice/progress.js)."""
    finished = run.state in {StatementRunState.DONE, StatementRunState.FAILED}
    return {
        "done": run.done,
        "total": run.total,
        "state": run.state,
        "finished": finished,
        "label": str(run.get_state_display()),
    }
