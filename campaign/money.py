"""Money as people read it, shared by donations/ and mailing/ (both use campaign/, neither the
other): integer cents in, the campaign's two languages' conventions out."""

from __future__ import annotations

from decimal import Decimal

from django.utils import formats, translation

# Dutch puts a (non-breaking) space between the sign and the amount and the minus after the
# sign (€ -0,01); English writes them together with the minus first (-€0.01). CLDR agrees.
_SPACED = "€\u00a0"


def euros(cents: int | None) -> str:
    """1234567 -> '€ 12.345,67' in Dutch, '€12,345.67' in English (the active language)."""
    cents = int(cents or 0)
    number = formats.number_format(
        Decimal(abs(cents)) / 100, decimal_pos=2, use_l10n=True, force_grouping=True
    )
    if (translation.get_language() or "nl").startswith("en"):
        return f"-€{number}" if cents < 0 else f"€{number}"
    return f"{_SPACED}-{number}" if cents < 0 else f"{_SPACED}{number}"
