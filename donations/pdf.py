"""A small fpdf2 renderer for the finance documents: annual statements and ANBI agreements.

Only layout lives here (heading, paragraphs, a table, label/value pairs, signature lines);
what a document says is decided by donations.statements and donations.agreements. Text is
drawn with a TrueType font (settings.PDF_FONT) because the core PDF fonts have no euro sign
outside cp1252 and no language tag; text stays selectable, so pdftotext reads it back.

Fonts are parsed once per process (`parsed_fonts`): parsing DejaVu took most of a document's
time, which January's 50,000 statements pay 50,000 times. Each document gets its own copy of
the parsed font (its own record of the glyphs it used) and, when written, a fresh fontTools
font to cut its subset from (the subsetter changes the font it cuts).

Cutting that subset from all of DejaVu's ~6,000 glyphs was then most of a document's time
(~39 ms per style), so each process also cuts, once, a font of the glyphs nearly every
document uses (Latin, Latin-1, Latin Extended-A, punctuation, the euro sign: ~390 glyphs,
same glyph names). A document whose glyphs all lie in it has its subset cut from that small
font (~14 ms, the same embedded glyphs and ids); any other (a name in Greek or Cyrillic, say)
from the whole font, as before.
"""

from __future__ import annotations

import copy
import functools
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# fpdf2 and fontTools are imported where a document is made: importing them costs every
# process ~22 MB, and most processes (web, the export worker) never make a PDF.
if TYPE_CHECKING:
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

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


STYLES = {"": "PDF_FONT", "B": "PDF_FONT_BOLD"}


# The characters nearly every finance document uses: see the module's docstring.
COMMON_CHARACTERS = [*range(0x20, 0x7F), *range(0xA0, 0x180), *range(0x2010, 0x203B), 0x20AC]


@dataclass(frozen=True)
class ParsedFont:
    font: TTFFont
    data: bytes  # the file, for the fresh copy each document's subset is cut from
    common: bytes  # a font of COMMON_CHARACTERS' glyphs, cut once from `data`
    common_glyphs: frozenset[str]


def _common_font(data: bytes) -> tuple[bytes, frozenset[str]]:
    """The font cut down to COMMON_CHARACTERS, glyph names kept (fpdf2 finds glyphs by name)."""
    from fontTools import subset  # type: ignore[import-untyped]  # untyped library
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    font = TTFont(io.BytesIO(data), recalcTimestamp=False)
    options = subset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True)
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=COMMON_CHARACTERS)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue(), frozenset(font.getGlyphOrder())


@functools.cache
def _parse(paths: tuple[str, ...]) -> dict[str, ParsedFont]:
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

    template = FPDF()
    parsed: dict[str, ParsedFont] = {}
    for style, path in zip(STYLES, paths, strict=True):
        template.add_font(FONT, style, path)
        font = template.fonts[f"{FONT}{style}"]
        assert isinstance(font, TTFFont)  # add_font of a TrueType file
        data = Path(path).read_bytes()
        parsed[style] = ParsedFont(font, data, *_common_font(data))
    return parsed


def parsed_fonts() -> dict[str, ParsedFont]:
    """Each style's font, parsed once per process (and again only if the settings change)."""
    return _parse(tuple(_font_path(setting) for setting in STYLES.values()))


def _fonts_add(pdf: FPDF) -> None:
    from fpdf.fonts import SubsetMap

    for style, parsed in parsed_fonts().items():
        font = copy.copy(parsed.font)
        font.i = len(pdf.fonts) + 1
        font.subset = SubsetMap(font)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        pdf.fonts[f"{FONT}{style}"] = font


def _fonts_prepare_output(pdf: FPDF) -> None:
    from fontTools.ttLib import TTFont
    from fpdf.fonts import TTFFont

    for style, parsed in parsed_fonts().items():
        font = pdf.fonts[f"{FONT}{style}"]
        assert isinstance(font, TTFFont)  # set by _fonts_add
        used = set(font.subset.get_all_glyph_names())
        data = parsed.common if used <= parsed.common_glyphs else parsed.data
        font.ttfont = TTFont(io.BytesIO(data), lazy=True, recalcTimestamp=False)


def _glyph_caches_clear() -> None:
    # fpdf2 memoizes SubsetMap lookups in functools caches that hold every document's map
    # (and through it its font) for the life of the process: a worker writing thousands of
    # statements would grow by each one.
    from fpdf.fonts import SubsetMap

    SubsetMap.pick.cache_clear()
    SubsetMap.get_glyph.cache_clear()


class FinanceDocument:
    """An A4 document with the charity's letterhead; call the drawing methods, then `bytes()`."""

    def __init__(self, *, title: str, language: str, letterhead: Sequence[str]) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4")
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.set_auto_page_break(auto=True, margin=MARGIN)
        _fonts_add(self.pdf)
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
        """A ruled table; `align` has one letter (L/R/C) per column; `footer` is drawn bold.

        When every value fits on one line of its column (a statement's dates, labels and
        amounts always do), the rows are drawn cell by cell: fpdf2's table lays out each cell
        with its line breaker twice (once to size the row, once to draw it), measuring every
        character each time, which was ~40% of a statement's time. Otherwise fpdf2's table
        wraps what needs wrapping."""
        self.pdf.set_font(FONT, "", 10)
        columns = [w * self.width / sum(widths) for w in widths]
        if self._fits_one_line(headers, rows, footer, columns):
            self._ruled_rows(headers, rows, footer, columns, align)
        else:
            self._wrapped_table(headers, rows, footer, widths, align)
        self.pdf.set_font(FONT, "", 10)
        self.pdf.ln(3)

    def _fits_one_line(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        footer: Sequence[str] | None,
        columns: Sequence[float],
    ) -> bool:
        room = [column - 2 * self.pdf.c_margin for column in columns]
        for style, group in (("B", [headers, footer or []]), ("", rows)):
            self.pdf.set_font(FONT, style, 10)
            for values in group:
                if any(
                    self.pdf.get_string_width(v) > r for v, r in zip(values, room, strict=False)
                ):
                    return False
        return True

    def _ruled_rows(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        footer: Sequence[str] | None,
        columns: Sequence[float],
        align: str,
    ) -> None:
        def draw(values: Sequence[str], style: str) -> None:
            self.pdf.set_font(FONT, style, 10)
            for value, column, side in zip(values, columns, align, strict=True):
                self.pdf.cell(column, LINE, value, border=1, align=side)
            self.pdf.ln(LINE)

        draw(headers, "B")
        for values in rows:
            if self.pdf.will_page_break(LINE):
                self.pdf.add_page()
                draw(headers, "B")  # the headings again on the next page, as fpdf2's table
            draw(values, "")
        if footer is not None:
            draw(footer, "B")

    def _wrapped_table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        footer: Sequence[str] | None,
        widths: Sequence[int],
        align: str,
    ) -> None:
        with self.pdf.table(
            col_widths=tuple(widths),
            text_align=tuple(align),
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
        _fonts_prepare_output(self.pdf)
        try:
            return bytes(self.pdf.output())
        finally:
            _glyph_caches_clear()
