"""Money as people read it, shared by donations/ and mailing/ (both use campaign/, neither the
other): integer cents in, the campaign's two languages' conventions out."""

from __future__ import annotations

import functools

from django.utils import formats, translation

# Dutch puts a (non-breaking) space between the sign and the amount and the minus after the
# sign (€ -0,01); English writes them together with the minus first (-€0.01). CLDR agrees.
_SPACED = "€\u00a0"


def euros(cents: int | None) -> str:
    """1234567 -> '€ 12.345,67' in Dutch, '€12,345.67' in English (the active language).

    In whole numbers, with the language's separators: Django's number_format (a Decimal and
    a format lookup per call) was most of the time a drain spent naming each gift's ledger
    row in its audit-log entry."""
    cents = int(cents or 0)
    language = translation.get_language() or "nl"
    decimal, thousand = _separators(language)
    whole, rest = divmod(abs(cents), 100)
    number = f"{whole:,}".replace(",", thousand) + f"{decimal}{rest:02d}"
    if language.startswith("en"):
        return f"-€{number}" if cents < 0 else f"€{number}"
    return f"{_SPACED}-{number}" if cents < 0 else f"{_SPACED}{number}"


@functools.cache
def _separators(language: str) -> tuple[str, str]:
    """(decimal, thousand) separators of the language's formats (groups of three in both)."""
    return (
        str(formats.get_format("DECIMAL_SEPARATOR", language, use_l10n=True)),
        str(formats.get_format("THOUSAND_SEPARATOR", language, use_l10n=True)),
    )
