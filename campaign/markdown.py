"""Markdown written by staff, rendered to HTML that cannot carry script."""

import re

import markdown as md
import nh3
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "a",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h2",
    "h3",
    "h4",
    "hr",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


def render_markdown(source: str) -> str:
    """Render Markdown, then let nh3 keep only harmless tags, attributes and URL schemes."""
    html = md.markdown(source, extensions=["sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"https", "http", "mailto"},
        link_rel="noopener noreferrer",
    )


# Raw HTML in the Markdown (a tag, a comment) or a link to a script scheme: nh3 would strip it
# silently when rendering, so staff would publish something other than what they wrote. Forms
# refuse it instead, with a message saying what to write.
_RAW_HTML = re.compile(r"</?[a-zA-Z][^>]*>|<!--")
_LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)")
_SAFE_SCHEMES = ("https:", "http:", "mailto:", "/", "#")


def unsafe_markup(source: str) -> str | None:
    """What in `source` would not survive rendering, or None when it is plain Markdown."""
    if match := _RAW_HTML.search(source):
        return match.group(0)[:40]
    for target in _LINK_TARGET.findall(source):
        lowered = target.strip().lower()
        if ":" in lowered.split("/", 1)[0] and not lowered.startswith(_SAFE_SCHEMES):
            return target[:40]
    return None


def reject_unsafe_markup(value: str) -> None:
    if found := unsafe_markup(value or ""):
        raise ValidationError(
            _(
                "HTML and script links are not allowed here (found %(found)s). Write Markdown: "
                "**bold**, *italic*, [link text](https://…)."
            ),
            code="unsafe_markup",
            params={"found": found},
        )
