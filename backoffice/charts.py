"""Small server-side SVG charts for the back office: no script, no chart library to load.

Readable without colour: every bar carries its number as text, bars are drawn in one ink with
a visible outline, and each chart has a title and a description for screen readers; pages put
the same figures in a table next to the chart (a <details> block) for those who prefer numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_BAR = 'fill="#2563eb" stroke="#1e3a8a" stroke-width="1"'
_TEXT = 'font-family="system-ui, sans-serif" font-size="12" fill="#111827"'


@dataclass(frozen=True)
class Bar:
    label: str
    value: int


def _plain(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def horizontal_bars(
    title: str, bars: Sequence[Bar], *, show: Callable[[int], str] = _plain, width: int = 560
) -> SafeString:
    """One bar per row (a funnel: sent, delivered, clicked, gave), its number at its end."""
    label_width, row, pad = 120, 30, 8
    height = pad * 2 + row * max(len(bars), 1)
    top = max((b.value for b in bars), default=0) or 1
    room = width - label_width - 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px">',
        f"<title>{escape(title)}</title>",
        "<desc>" + escape("; ".join(f"{b.label}: {show(b.value)}" for b in bars)) + "</desc>",
    ]
    for index, bar in enumerate(bars):
        y = pad + index * row
        length = max(round(room * bar.value / top), 1 if bar.value else 0)
        parts.append(f'<text x="0" y="{y + 19}" {_TEXT}>{escape(bar.label)}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y + 5}" width="{length}" height="{row - 10}" {_BAR}/>'
        )
        parts.append(
            f'<text x="{label_width + length + 6}" y="{y + 19}" {_TEXT} font-weight="600">'
            f"{escape(show(bar.value))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def columns(
    title: str, bars: Sequence[Bar], *, show: Callable[[int], str] = _plain, width: int = 560
) -> SafeString:
    """Columns over time (one per day); values above the columns, every few labels below."""
    height, base, top_pad = 200, 170, 22
    count = max(len(bars), 1)
    slot = (width - 20) / count
    top = max((b.value for b in bars), default=0) or 1
    label_every = max(1, round(count / 8))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px">',
        f"<title>{escape(title)}</title>",
        "<desc>" + escape("; ".join(f"{b.label}: {show(b.value)}" for b in bars)) + "</desc>",
        f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#6b7280"/>',
    ]
    for index, bar in enumerate(bars):
        x = 10 + index * slot
        h = round((base - top_pad) * bar.value / top)
        w = max(slot * 0.7, 1)
        parts.append(
            f'<rect x="{x + (slot - w) / 2:.1f}" y="{base - h}" width="{w:.1f}" height="{h}" '
            f"{_BAR}/>"
        )
        if bar.value and count <= 31:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{base - h - 4}" text-anchor="middle" '
                f'{_TEXT} font-size="10">{escape(show(bar.value))}</text>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{base + 16}" text-anchor="middle" '
                f'{_TEXT} font-size="10">{escape(bar.label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
