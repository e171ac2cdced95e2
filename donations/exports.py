"""Finance exports: exporter classes (what rows) and one renderer (how: CSV or XLSX).

Rows stream from PostgreSQL, never through model instances: the ORM path is 7-11 times slower
than COPY on a million rows and holds every row in memory. CSV is PostgreSQL's own
`COPY (SELECT ...) TO STDOUT` of a SELECT that already formats each value (dates in
Europe/Amsterdam, exact decimals from cents), so Python only moves bytes. XLSX needs typed
values, so it reads the same columns unformatted through a streaming cursor (psycopg's
`stream()`), one batch of rows in memory at a time.

Attribution comes from what donations itself received with the gift (the email link's source
token, the landing page's UTM tags, the campaign): which mailing, step or story brought gifts
is mailing's to report (its results, fed by the donation events), never read from its tables
here (DESIGN.md: the two apps meet only through events).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Literal
from zoneinfo import ZoneInfo

from django.db import connection

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
Dialect = Literal["default", "nl"]
Format = Literal["csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
DIALECTS: tuple[Dialect, ...] = ("default", "nl")
ColumnKind = Literal["text", "money", "date", "integer"]
Progress = Callable[[int], None]

# Negative amounts in red, as Dutch bookkeepers expect; the euro sign is part of the format,
# not of the value, so the cell stays a number.
EURO_FORMAT = '"€" #,##0.00;[Red]"€" -#,##0.00'
DATE_FORMAT = "yyyy-mm-dd"
UTF8_BOM = b"\xef\xbb\xbf"
STREAM_BATCH = 2000


@dataclass(frozen=True)
class Column:
    header: str
    expression: str  # SQL giving the typed value (money: integer cents)
    kind: ColumnKind = "text"

    def typed_sql(self) -> str:
        if self.kind == "money":
            # numeric(20,2) from integer cents: exact, and psycopg returns a Decimal.
            return f"(({self.expression})::numeric / 100)::numeric(20, 2)"
        return self.expression

    def text_sql(self, dialect: Dialect) -> str:
        """The value as CSV text, formatted by PostgreSQL."""
        if self.kind == "money":
            text = f"{self.typed_sql()}::text"
            return f"replace({text}, '.', ',')" if dialect == "nl" else text
        if self.kind == "date":
            return f"to_char({self.expression}, 'YYYY-MM-DD')"
        if self.kind == "integer":
            return f"({self.expression})::text"
        # Excel runs a text cell starting with = + - @ as a formula: a leading quote keeps a
        # donor-typed name from becoming one (CSV injection).
        return (
            f"CASE WHEN left({self.expression}, 1) IN ('=', '+', '-', '@') "
            f"THEN '''' || {self.expression} ELSE {self.expression} END"
        )


def _quoted(header: str) -> str:
    return '"' + header.replace('"', '""') + '"'


class Exporter(ABC):
    """What an export contains: columns, and the FROM/WHERE/ORDER BY that yields its rows."""

    identifier: ClassVar[str]
    verbose_name: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]

    @abstractmethod
    def source(self) -> tuple[str, dict[str, Any]]:
        """SQL from `FROM` to `ORDER BY`, and its parameters."""

    @abstractmethod
    def count(self) -> int:
        """How many rows (for progress), cheaper than running the export."""

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]

    def typed_select(self) -> tuple[str, dict[str, Any]]:
        body, params = self.source()
        selected = ", ".join(column.typed_sql() for column in self.columns)
        return f"SELECT {selected} {body}", params

    def text_select(self, dialect: Dialect) -> tuple[str, dict[str, Any]]:
        body, params = self.source()
        selected = ", ".join(
            f"COALESCE({column.text_sql(dialect)}, '') AS {_quoted(column.header)}"
            for column in self.columns
        )
        return f"SELECT {selected} {body}", params

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Typed rows (Decimal amounts, dates), streamed: memory stays flat."""
        query, params = self.typed_select()
        connection.ensure_connection()
        raw = connection.connection
        assert raw is not None
        with raw.cursor() as cursor:
            yield from cursor.stream(query, params, size=STREAM_BATCH)


# -- the ledger ------------------------------------------------------------------------------

# Refunds recorded before their donation was known have no donation_id: they join through the
# payment intent (as donations.ledger.donation_transactions does). The lateral subquery only
# runs for those rows (its one-time filter is false for the rest).
LEDGER_JOINS = """
FROM donations_transaction t
LEFT JOIN LATERAL (
    SELECT d0.id FROM donations_donation d0
    WHERE t.donation_id IS NULL AND t.stripe_payment_intent <> ''
      AND d0.stripe_payment_intent = t.stripe_payment_intent
    ORDER BY d0.id LIMIT 1
) late ON TRUE
LEFT JOIN donations_donation d ON d.id = COALESCE(t.donation_id, late.id)
LEFT JOIN campaign_campaign dcp ON dcp.id = d.campaign_id
LEFT JOIN donations_payoutline pl
    ON pl.balance_transaction = t.stripe_balance_transaction
   AND t.stripe_balance_transaction <> ''
"""

METHOD_SQL = "COALESCE(d.method, '')"
# Where the gift came in (donate page, Payment Link, dashboard, invoice, other site).
CHANNEL_SQL = "COALESCE(d.channel, '')"
# The landing page's utm_campaign, else the campaign the gift was given to (the donate page's,
# or the one finance set for the Payment Link, price or product: donations.StripeCampaign).
CAMPAIGN_SQL = "COALESCE(NULLIF(d.utm->>'utm_campaign', ''), dcp.slug, '')"
# How the donor reached us: an email's donate link (its signed source token; which email is
# mailing's to say), else the landing page's utm_source.
SOURCE_SQL = "CASE WHEN d.source_token <> '' THEN 'email' ELSE NULLIF(d.utm->>'utm_source', '') END"

LEDGER_COLUMNS: tuple[Column, ...] = (
    Column("booking_date", "(t.occurred_at AT TIME ZONE 'Europe/Amsterdam')::date", "date"),
    Column("transaction_id", "t.id", "integer"),
    Column("kind", "t.kind"),
    Column("donation_id", "d.uuid::text"),
    Column(
        "frequency",
        "CASE d.frequency WHEN 'monthly' THEN 'recurring' WHEN 'one_off' THEN 'one-off' END",
    ),
    Column("method", METHOD_SQL),
    Column("channel", CHANNEL_SQL),
    # After erasure donor_name holds the pseudonym and donor_email is blank.
    Column("donor_name", "d.donor_name"),
    Column("donor_email", "d.donor_email"),
    Column("gross", "t.amount", "money"),
    Column("fee", "t.fee", "money"),
    Column("net", "t.net", "money"),
    Column("currency", "upper(t.currency)"),
    Column("stripe_payment_intent", "t.stripe_payment_intent"),
    Column("stripe_charge", "t.stripe_charge"),
    Column("stripe_balance_transaction", "t.stripe_balance_transaction"),
    Column("stripe_payout", "COALESCE(NULLIF(t.stripe_payout, ''), pl.payout)"),
    Column("campaign", CAMPAIGN_SQL),
    Column("source", SOURCE_SQL),
)


def period_bounds(since: date, until: date) -> tuple[datetime, datetime]:
    """[start, end) instants of Amsterdam days since..until, the until day included."""
    start = datetime.combine(since, time.min, tzinfo=AMSTERDAM)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=AMSTERDAM)
    return start, end


class TransactionsExporter(Exporter):
    """Every ledger row booked in a period: gifts, refunds, disputes, fees, payouts."""

    identifier = "transactions"
    verbose_name = "Transactions (ledger)"
    columns = LEDGER_COLUMNS

    def __init__(self, *, since: date, until: date) -> None:
        if until < since:
            raise ValueError(f"the period ends ({until}) before it starts ({since})")
        self.start, self.end = period_bounds(since, until)

    def _params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}

    def source(self) -> tuple[str, dict[str, Any]]:
        where = "WHERE t.occurred_at >= %(start)s AND t.occurred_at < %(end)s"
        return f"{LEDGER_JOINS} {where} ORDER BY t.occurred_at, t.id", self._params()

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM donations_transaction t "
                "WHERE t.occurred_at >= %(start)s AND t.occurred_at < %(end)s",
                self._params(),
            )
            return int(cursor.fetchone()[0])


# -- one payout, both sides -------------------------------------------------------------------

# The ledger rows a payout export can show: those naming the payout, and those booking a
# balance transaction it settled. Every ledger column comes through as c0, c1, ... (raw values,
# formatted by the outer Column), with the sums of the rows booking the same balance
# transaction, so two rows booking one transaction do not each look right.
_PAYOUT_LEDGER = f"""
SELECT {", ".join(f"{column.expression} AS c{i}" for i, column in enumerate(LEDGER_COLUMNS))},
    t.id AS tid, t.stripe_balance_transaction AS bt, t.currency AS cur, t.occurred_at AS occ,
    sum(t.amount) OVER same_bt AS bt_amount, sum(t.fee) OVER same_bt AS bt_fee,
    sum(t.net) OVER same_bt AS bt_net
{LEDGER_JOINS}
WHERE t.stripe_payout = %(payout)s OR t.stripe_balance_transaction IN (
    SELECT balance_transaction FROM donations_payoutline WHERE payout = %(payout)s)
WINDOW same_bt AS (PARTITION BY t.stripe_balance_transaction)
"""  # noqa: S608 - our columns and joins; the payout id is a parameter

# Stripe's settled lines (pl) next to our rows (led): a row on one side only is a difference.
PAYOUT_SOURCE = f"""
FROM ({_PAYOUT_LEDGER}) led
FULL JOIN (SELECT * FROM donations_payoutline WHERE payout = %(payout)s) pl
    ON pl.balance_transaction = led.bt AND led.bt <> ''
"""  # noqa: S608 - our SQL; the payout id is a parameter

# The problems donations.payouts names, per row (its Problem values, and ok).
PAYOUT_STATUS_SQL = """CASE
    WHEN led.tid IS NULL THEN 'not_in_ledger'
    WHEN pl.id IS NULL THEN 'not_settled'
    WHEN (led.bt_amount, led.bt_fee, led.bt_net, lower(led.cur))
        IS DISTINCT FROM (pl.amount, pl.fee, pl.net, lower(pl.currency)) THEN 'amounts_differ'
    ELSE 'ok' END"""


def _payout_column(index: int, column: Column) -> Column:
    expression = f"led.c{index}"
    # A line missing from the ledger still names its balance transaction and payout.
    if column.header == "stripe_balance_transaction":
        expression = f"COALESCE(NULLIF({expression}, ''), pl.balance_transaction)"
    elif column.header == "stripe_payout":
        expression = f"COALESCE(NULLIF({expression}, ''), pl.payout)"
    return Column(column.header, expression, column.kind)


class PayoutExporter(Exporter):
    """One payout, for the bank statement line and its reconciliation (issue 12): each
    balance transaction Stripe says it settled next to the ledger rows booking it, plus ledger
    rows naming the payout that it did not settle; `reconciliation` says ok or what differs,
    and the stripe_* columns carry Stripe's own figures."""

    identifier = "payout"
    verbose_name = "Payout settlement"
    columns = (
        *(_payout_column(i, column) for i, column in enumerate(LEDGER_COLUMNS)),
        Column("reconciliation", PAYOUT_STATUS_SQL),
        Column("stripe_type", "pl.type"),
        Column("stripe_gross", "pl.amount", "money"),
        Column("stripe_fee", "pl.fee", "money"),
        Column("stripe_net", "pl.net", "money"),
    )

    def __init__(self, *, payout: str) -> None:
        self.payout = payout

    def source(self) -> tuple[str, dict[str, Any]]:
        order = "ORDER BY COALESCE(led.occ, pl.created_at), led.tid, pl.id"
        return f"{PAYOUT_SOURCE} {order}", {"payout": self.payout}

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) {PAYOUT_SOURCE}", {"payout": self.payout})
            return int(cursor.fetchone()[0])


EXPORTERS: dict[str, type[Exporter]] = {
    exporter.identifier: exporter for exporter in (TransactionsExporter, PayoutExporter)
}


# -- rendering -------------------------------------------------------------------------------


class Renderer:
    """One renderer for every exporter: CSV (COPY) or XLSX (openpyxl, write-only)."""

    def __init__(
        self,
        exporter: Exporter,
        *,
        dialect: Dialect = "default",
        progress: Progress | None = None,
    ) -> None:
        self.exporter = exporter
        self.dialect = dialect
        self.progress = progress

    def render(self, fmt: Format, out: BinaryIO) -> int:
        """Write the export to a binary stream; returns how many data rows."""
        if fmt == "csv":
            return self.csv(out)
        if fmt == "xlsx":
            return self.xlsx(out)
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")

    def _copy_sql(self) -> tuple[str, dict[str, Any]]:
        query, params = self.exporter.text_select(self.dialect)
        delimiter = ";" if self.dialect == "nl" else ","
        options = f"FORMAT csv, HEADER true, DELIMITER '{delimiter}', ENCODING 'UTF8'"
        return f"COPY ({query}) TO STDOUT WITH ({options})", params

    def csv(self, out: BinaryIO) -> int:
        if self.dialect == "nl":
            # Dutch Excel reads a CSV as Windows-1252 unless it starts with a BOM.
            out.write(UTF8_BOM)
        query, params = self._copy_sql()
        connection.ensure_connection()
        raw = connection.connection
        assert raw is not None
        # PostgreSQL sends COPY TO output one message per row (the header is the first), so
        # counting messages counts rows exactly, even with a newline inside a value. The loop
        # only hands each message's bytes to the file: no Python object per value, ~1.3 us
        # of CPU a row.
        messages = 0
        write = out.write
        with raw.cursor() as cursor, cursor.copy(query, params) as copy:
            for message in copy:
                write(message)
                messages += 1
                if messages % STREAM_BATCH == 0:
                    self._report(messages - 1)
        rows = max(messages - 1, 0)
        self._report(rows)
        return rows

    def xlsx(self, out: BinaryIO) -> int:
        # Imported here: the CSV path (and the bench's start-up time) never needs openpyxl.
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(self.exporter.identifier[:31])
        sheet.append(self.exporter.headers)
        kinds = [column.kind for column in self.exporter.columns]
        written = 0
        for row in self.exporter.rows():
            sheet.append(_xlsx_cells(sheet, kinds, row))
            written += 1
            if written % STREAM_BATCH == 0:
                self._report(written)
        workbook.save(out)
        self._report(written)
        return written

    def _report(self, rows: int) -> None:
        if self.progress is not None:
            self.progress(rows)


def _xlsx_cells(
    sheet: WriteOnlyWorksheet, kinds: list[ColumnKind], row: tuple[Any, ...]
) -> list[Any]:
    from openpyxl.cell import WriteOnlyCell

    cells: list[Any] = []
    for kind, value in zip(kinds, row, strict=True):
        if value is None:
            cells.append(None)
        elif kind == "money":
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = EURO_FORMAT
            cells.append(cell)
        elif kind == "date":
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = DATE_FORMAT
            cells.append(cell)
        elif isinstance(value, str) and value.startswith("="):
            # openpyxl would store this as a formula: keep it the text it is.
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            cells.append(cell)
        else:
            cells.append(value)
    return cells
