"""Transactional email in the campaign's look: the text a template wrote, as HTML in the same
MJML frame as the story emails (mrml + css-inline, as mailing/rendering.py does), with the
footer every email of ours carries (the postal address, the preference centre for supporters).

One frame for every letter-like email (donor notices, statements): the wording stays in each
email's text template, so the HTML and text parts cannot say different things.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import css_inline
import mrml
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape, urlize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

_PARAGRAPHS = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Letter:
    text: str
    html: str


def _paragraph(text: str) -> SafeString:
    lines = [urlize(escape(line.strip())) for line in text.strip().splitlines()]
    return mark_safe("<br>".join(lines))  # noqa: S308 - each line escaped above


def letter(*, text: str, title: str, language: str, preferences_url: str = "") -> Letter:
    """The text part with the footer added, and its HTML in the campaign frame."""
    with translation.override(language):
        preferences_label = gettext("Email preferences")
        footer = [settings.MAILING_POSTAL_ADDRESS]
        if preferences_url:
            footer.insert(0, f"{preferences_label}: {preferences_url}")
        context = {
            "language": language,
            "title": title,
            "paragraphs": [_paragraph(p) for p in _PARAGRAPHS.split(text.strip()) if p.strip()],
            "preferences_url": preferences_url,
            "preferences_label": preferences_label,
            "postal_address": settings.MAILING_POSTAL_ADDRESS,
        }
        mjml = render_to_string("campaign/email/layout.mjml", context)
    html = css_inline.inline(mrml.to_html(mjml).content)
    return Letter(text=text.strip() + "\n\n--\n" + "\n".join(footer) + "\n", html=html)
