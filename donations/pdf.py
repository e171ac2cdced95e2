"""A small fpdf2 renderer for the finance documents: annual statements and ANBI agreements.

Only layout lives here (heading, paragraphs, a table, label/value pairs, signature lines);
what a document says is decided by donations.statements and donations.agreements. Text is
drawn with a TrueType font (settings.PDF_FONT) because the core PDF fonts have no euro sign
outside cp1252 and no language tag; text stays selectable, so pdftotext reads it back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from fpdf import FPDF

# fontTools logs every step of subsetting the embedded font at INFO: noise in worker logs.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT = "body"
MARGIN = 20  # mm
LINE = 6  # mm


def _font_path(setting: str) -> str:
    path = str(getattr(settings, setting))
    if not Path(path).is_file():
        raise ImproperlyConfigured(
            f"{setting}={path!r} is not a font file: install fonts-dejavu-core or point "
            f"{setting} at a TrueType font that has the euro sign"
        )
    return path


class FinanceDocument:
    """An A4 document with the charity's letterhead; call the drawing methods, then `bytes()`."""

    def __init__(self, *, title: str, language: str, letterhead: Sequence[str]) -> None:
        # Imported on first use: fpdf2 and fontTools add ~20 MB to every process (web, worker,
        # export) that never draws a PDF.
        from fpdf import FPDF

        self.pdf: FPDF = FPDF(format="A4")
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.set_auto_page_break(auto=True, margin=MARGIN)
        self.pdf.add_font(FONT, "", _font_path("PDF_FONT"))
        self.pdf.add_font(FONT, "B", _font_path("PDF_FONT_BOLD"))
        self.pdf.set_title(title)
        self.pdf.set_lang(language)
        self.pdf.set_author(letterhead[0] if letterhead else "")
        self.pdf.set_creator("Save the Survivors")
        self.pdf.add_page()
        self.pdf.set_font(FONT, "B", 12)
        for i, line in enumerate(letterhead):
            self._line(line)
            if i == 0:
                self.pdf.set_font(FONT, "", 9)
        self.pdf.ln(LINE)

    @property
    def width(self) -> float:
        return float(self.pdf.epw)

    def _line(self, text: str, *, height: float = LINE - 1) -> None:
        self.pdf.cell(0, height, text, new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str) -> None:
        self.pdf.set_font(FONT, "B", 15)
        self.pdf.multi_cell(0, LINE + 2, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def subheading(self, text: str) -> None:
        self.pdf.ln(2)
        self.pdf.set_font(FONT, "B", 11)
        self._line(text, height=LINE)

    def paragraph(self, text: str, *, size: int = 10) -> None:
        self.pdf.set_font(FONT, "", size)
        self.pdf.multi_cell(0, LINE - 1, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def fields(self, pairs: Sequence[tuple[str, str]], *, label_width: float = 60) -> None:
        """Label: value lines, for the parties and terms of an agreement."""
        for label, value in pairs:
            self.pdf.set_font(FONT, "B", 10)
            self.pdf.cell(label_width, LINE, label)
            self.pdf.set_font(FONT, "", 10)
            self.pdf.multi_cell(0, LINE, value or "", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[int],
        align: str,
        footer: Sequence[str] | None = None,
    ) -> None:
        """A ruled table; `align` has one letter (L/R/C) per column; `footer` is drawn bold."""
        self.pdf.set_font(FONT, "", 10)
        alignments = tuple(align)
        with self.pdf.table(
            col_widths=tuple(widths),
            text_align=alignments,
            line_height=LINE,
            first_row_as_headings=True,
        ) as table:
            for values in [headers, *rows]:
                row = table.row()
                for value in values:
                    row.cell(value)
            if footer is not None:
                self.pdf.set_font(FONT, "B", 10)
                row = table.row()
                for value in footer:
                    row.cell(value)
        self.pdf.set_font(FONT, "", 10)
        self.pdf.ln(3)

    def signature_lines(self, labels: Sequence[str]) -> None:
        """Side-by-side boxes to sign by hand: place, date and signature under each label."""
        self.pdf.ln(4)
        column = self.width / len(labels)
        top = self.pdf.get_y()
        for i, label in enumerate(labels):
            x = self.pdf.l_margin + i * column
            self.pdf.set_xy(x, top)
            self.pdf.set_font(FONT, "B", 10)
            self.pdf.cell(column - 5, LINE, label)
            self.pdf.line(x, top + 28, x + column - 10, top + 28)
        self.pdf.set_xy(self.pdf.l_margin, top + 32)

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())
