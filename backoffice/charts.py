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


def _labelled(count: int) -> set[int]:
    """Which columns get a day label: the last one (today) always, then every few counting
    back from it, so no label ever sits under a neighbouring day's column."""
    every = max(1, round(count / 8))
    return set(range(count - 1, -1, -every))


# An estimate of how wide a character of the value font is (system-ui digits, ~0.6 em): used to
# decide whether a value fits above its column or must be turned upright.
_CHAR_EM = 0.62


def columns(
    title: str, bars: Sequence[Bar], *, show: Callable[[int], str] = _plain, width: int = 560
) -> SafeString:
    """Columns over time (one per day); values above the columns, every few labels below.

    A value wider than its column (a euro amount over thirty days) is written upright, and the
    chart keeps room above the highest column for the longest one: nothing is clipped."""
    count = max(len(bars), 1)
    slot = (width - 20) / count
    font = 10
    texts = [show(b.value) if b.value else "" for b in bars]
    longest = max((len(t) for t in texts), default=0) * font * _CHAR_EM
    upright = longest > slot * 0.95
    top_pad = (round(longest) + 8) if upright else 22
    base = top_pad + 148
    height = base + 30
    top = max((b.value for b in bars), default=0) or 1
    labelled = _labelled(len(bars))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px">',
        f"<title>{escape(title)}</title>",
        "<desc>" + escape("; ".join(f"{b.label}: {show(b.value)}" for b in bars)) + "</desc>",
        f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#6b7280"/>',
    ]
    for index, (bar, text) in enumerate(zip(bars, texts, strict=True)):
        x = 10 + index * slot
        middle = x + slot / 2
        h = round((base - top_pad) * bar.value / top)
        w = max(slot * 0.7, 1)
        parts.append(
            f'<rect x="{x + (slot - w) / 2:.1f}" y="{base - h}" width="{w:.1f}" height="{h}" '
            f"{_BAR}/>"
        )
        if text and upright:
            y = base - h - 4
            parts.append(
                f'<text x="{middle:.1f}" y="{y}" transform="rotate(-90 {middle:.1f} {y})" '
                f'dominant-baseline="middle" {_TEXT} font-size="{font}" data-value>'
                f"{escape(text)}</text>"
            )
        elif text:
            parts.append(
                f'<text x="{middle:.1f}" y="{base - h - 4}" text-anchor="middle" '
                f'{_TEXT} font-size="{font}" data-value>{escape(text)}</text>'
            )
        if index in labelled:
            parts.append(
                f'<text x="{middle:.1f}" y="{base + 16}" text-anchor="middle" '
                f'{_TEXT} font-size="10" data-label>{escape(bar.label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
