"""Rendering: compile a message version once per language, then build each recipient's bytes
by joining pre-encoded pieces.

Python's email package costs ~4 ms per MIME message (issue #5), which caps a core at a few
hundred messages/s. Here MJML (mrml) and CSS inlining (css-inline) run once per message version
and language; the result is split at placeholders for the personal parts and each static piece
is quoted-printable encoded once, ending in a soft line break. Per recipient only the short
personal values are encoded (binascii, in C) and everything is joined: a few microseconds.
"""

from __future__ import annotations

import binascii
import email.policy
import email.utils
import hashlib
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import css_inline
import mrml
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from campaign.markdown import render_markdown

# Letters only, so neither MJML, the CSS inliner nor HTML escaping changes them.
_PLACEHOLDER = "XqphX{}XqphX"
_PLACEHOLDER_RE = re.compile(r"XqphX([a-z_]+)XqphX")
PERSONAL_FIELDS = (
    "name",
    "donate_url",
    "preferences_url",
    "unsubscribe_url",
    "click_base",
    "donate_query",
)
_HREF = re.compile(r'href="([^"]*)"')
# Links that stay direct when clicks are tracked: following them is not a click to count, and
# a link scanner that follows them must change nothing (see mailing/tracking.py).
_UNTRACKED = tuple(_PLACEHOLDER.format(f) for f in ("preferences_url", "unsubscribe_url"))
_SOFT_BREAK = b"=\r\n"
_CRLF = b"\r\n"
_SMTP = email.policy.SMTP
# The story page's notice (campaign/templates/campaign/story.html), word for word.
ILLUSTRATIVE_NOTICE = gettext_noop(
    "This is an illustrative story: a composite written for this demo from facts about children "
    "on the move. The name is a pseudonym. Real campaign stories are shared with the children's "
    "consent."
)

# Piece kinds in Compiled.body.
_STATIC, _HTML_VALUE, _TEXT_VALUE = 0, 1, 2


@dataclass(frozen=True)
class Personal:
    """What differs per recipient. URLs are absolute; name may be empty."""

    address: str
    name: str
    donate_url: str
    preferences_url: str
    unsubscribe_url: str
    unsubscribe_mailto: str
    message_id: str
    # Tracked links: "<site>/r/<signed token>"; each link adds "/<n>/" (mailing/tracking.py).
    click_base: str = ""
    # "source=<signed token>": the tracked donate link carries it too (the redirect rebuilds
    # the target from the ledger row; this keeps the attribution visible in the email itself).
    donate_query: str = ""


@dataclass(frozen=True)
class Parts:
    """One language of a message version, rendered, with placeholders where personal parts go
    (see fill_placeholders). An ESP that merges per recipient itself takes these."""

    language: str
    subjects: dict[str, str]  # variant ("A"/"B") -> subject
    html: str
    text: str
    fallback_name: str
    # With click tracking, the links' targets in order: href n became <click_base>/n/.
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Compiled:
    headers: bytes  # static headers, CRLF-terminated, without Subject
    subjects: dict[str, bytes]  # variant ("A"/"B") -> folded Subject header line
    body: tuple[tuple[int, Any], ...]  # (kind, bytes | field name)
    fallback_name: str
    parts: Parts | None = None


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends (b2a_qp keeps the input's line ends)."""
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode(), istext=True)
    return encoded.replace(b"\n", _CRLF)


def _strip_markdown(source: str) -> str:
    """The text part: the Markdown source without its markup, links kept as 'text (url)'."""
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", source)
    text = re.sub(r"(\*\*|__|\*|_|^#+\s*)", "", text, flags=re.MULTILINE)
    return text.strip()


def _header(name: str, value: str) -> bytes:
    # Through the header factory, so non-ASCII is always RFC 2047-encoded: fold_binary alone
    # passes a short value through unencoded ("Stap één" would fail to encode as ASCII).
    return _SMTP.header_factory(name, value).fold(policy=_SMTP).encode("ascii")


def _pieces(rendered: str, value_kind: int) -> list[tuple[int, Any]]:
    """Split at placeholders: static text (QP, ending in a soft break) and value slots."""
    pieces: list[tuple[int, Any]] = []
    parts = _PLACEHOLDER_RE.split(rendered)
    for index, part in enumerate(parts):
        if index % 2:
            if part not in PERSONAL_FIELDS:
                raise ValueError(f"unknown placeholder {part!r}")
            pieces.append((value_kind, part))
        elif part:
            pieces.append((_STATIC, _qp(part) + _SOFT_BREAK))
    return pieces


def fill_placeholders(rendered: str, value: Callable[[str], str]) -> str:
    """Replace each personal-part placeholder with value(field name)."""
    return _PLACEHOLDER_RE.sub(lambda match: value(match[1]), rendered)


def _track_links(page: str) -> tuple[str, tuple[str, ...]]:
    """Send each web link through the click redirect; returns the page and the links' targets."""
    links: list[str] = []

    def swap(match: re.Match[str]) -> str:
        target = html.unescape(match[1])
        if any(slot in target for slot in _UNTRACKED):
            return match[0]
        if not target.startswith(("https://", "http://", _PLACEHOLDER.format("donate_url"))):
            return match[0]  # mailto:, anchors
        links.append(target)
        tracked = f"{_PLACEHOLDER.format('click_base')}/{len(links) - 1}/"
        if target.startswith(_PLACEHOLDER.format("donate_url")):
            tracked += "?" + _PLACEHOLDER.format("donate_query")
        return f'href="{tracked}"'

    return _HREF.sub(swap, page), tuple(links)


def render_parts(content: dict[str, Any], language: str, *, track_clicks: bool = False) -> Parts:
    """Render one language of a message snapshot (see services.message_snapshot): MJML to HTML
    with inlined CSS, and the text part, placeholders in both."""
    localized = content["languages"].get(language) or content["languages"]["nl"]
    with translation.override(language):
        context = {
            "language": language,
            "subject": localized["subject"],
            "preheader": localized["preheader"],
            "title": localized["title"],
            "body_html": render_markdown(localized["body"]),
            "body_text": _strip_markdown(localized["body"]),
            "story_url": localized.get("story_url", ""),
            "illustrative_notice": gettext(ILLUSTRATIVE_NOTICE)
            if content.get("illustrative")
            else "",
            "greeting": gettext("Dear"),
            "read_more": gettext("Read the whole story"),
            "donate_label": gettext("Give now"),
            "footer": gettext(
                "You receive this email because you signed up for stories from Save the Children."
            ),
            "preferences_label": gettext("Email preferences"),
            "unsubscribe_label": gettext("Unsubscribe"),
            "postal_address": settings.MAILING_POSTAL_ADDRESS,
            **{field: _PLACEHOLDER.format(field) for field in PERSONAL_FIELDS},
        }
        # "Dear friend," is a classic of spam (SpamAssassin DEAR_FRIEND, 2.7 points).
        fallback_name = gettext("supporter")
        mjml = render_to_string("mailing/email.mjml", context)
        text = render_to_string("mailing/email.txt", context)
    subjects = {"A": localized["subject"]}
    if localized.get("subject_b"):
        subjects["B"] = localized["subject_b"]
    page = css_inline.inline(mrml.to_html(mjml).content)
    links: tuple[str, ...] = ()
    if track_clicks:
        page, links = _track_links(page)
    return Parts(
        language=language,
        subjects=subjects,
        html=page,
        text=text.strip() + "\n",
        fallback_name=fallback_name,
        links=links,
    )


def compile_content(
    content: dict[str, Any], language: str, *, boundary_seed: str, track_clicks: bool = False
) -> Compiled:
    """Compile one language of a message snapshot: render once, QP-encode the static pieces."""
    parts = render_parts(content, language, track_clicks=track_clicks)
    boundary = "=_sts_" + hashlib.sha256(boundary_seed.encode()).hexdigest()[:24]
    subjects = {variant: _header("Subject", value) for variant, value in parts.subjects.items()}
    headers = b"".join(
        [
            _header("From", settings.DEFAULT_FROM_EMAIL),
            _header("Reply-To", settings.MAILING_REPLY_TO),
            _header("List-Id", settings.MAILING_LIST_ID),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode(),
            f"Content-Language: {language}\r\n".encode(),
        ]
    )
    part_head = "--{b}\r\nContent-Type: text/{t}; charset=utf-8\r\n"
    part_head += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    body: list[tuple[int, Any]] = [
        (_STATIC, part_head.format(b=boundary, t="plain").encode()),
        *_pieces(parts.text, _TEXT_VALUE),
        (_STATIC, _CRLF + part_head.format(b=boundary, t="html").encode()),
        *_pieces(parts.html, _HTML_VALUE),
        (_STATIC, f"\r\n--{boundary}--\r\n".encode()),
    ]
    # Merge neighbouring static pieces: fewer joins per recipient.
    merged: list[tuple[int, Any]] = []
    for kind, value in body:
        if kind == _STATIC and merged and merged[-1][0] == _STATIC:
            merged[-1] = (_STATIC, merged[-1][1] + value)
        else:
            merged.append((kind, value))
    return Compiled(
        headers=headers,
        subjects=subjects,
        body=tuple(merged),
        fallback_name=parts.fallback_name,
        parts=parts,
    )


def placeholder(field: str) -> str:
    """How a personal part appears in rendered content (Parts.html, Parts.text, Parts.links)."""
    return _PLACEHOLDER.format(field)


def links_for(message_id: int, language: str) -> tuple[str, ...]:
    """The tracked links' targets of a message version, whatever the tracking setting is now."""
    parts = _compiled(message_id, language, True).parts
    return parts.links if parts is not None else ()


def compiled_for(message_id: int, language: str) -> Compiled:
    """Per worker process, once per message version and language: versions never change."""
    return _compiled(message_id, language, settings.MAILING_CLICK_TRACKING)


@lru_cache(maxsize=256)
def _compiled(message_id: int, language: str, track_clicks: bool) -> Compiled:
    from mailing.models import Message

    message = Message.objects.get(pk=message_id)
    return compile_content(
        message.content,
        language,
        boundary_seed=f"{message_id}:{language}",
        track_clicks=track_clicks,
    )


_date_cache: tuple[int, bytes] = (0, b"")


def _date_header() -> bytes:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, f"Date: {email.utils.formatdate(now, usegmt=True)}\r\n".encode())
    return _date_cache[1]


def message_bytes(compiled: Compiled, personal: Personal, *, variant: str = "A") -> bytes:
    """The complete RFC 5322 message for one recipient."""
    name = personal.name or compiled.fallback_name
    values_html = {
        "name": html.escape(name),
        "donate_url": html.escape(personal.donate_url),
        "preferences_url": html.escape(personal.preferences_url),
        "unsubscribe_url": html.escape(personal.unsubscribe_url),
        "click_base": html.escape(personal.click_base),
        "donate_query": html.escape(personal.donate_query),
    }
    values_text = {
        "name": name,
        "donate_url": personal.donate_url,
        "preferences_url": personal.preferences_url,
        "unsubscribe_url": personal.unsubscribe_url,
        "click_base": personal.click_base,
        "donate_query": personal.donate_query,
    }
    out = [
        compiled.headers,
        compiled.subjects.get(variant) or compiled.subjects["A"],
        f"To: {personal.address}\r\n".encode(),
        f"Message-ID: {personal.message_id}\r\n".encode(),
        _date_header(),
        # Folded after the comma: both URLs together pass the 78-character line length.
        f"List-Unsubscribe: <{personal.unsubscribe_url}>,\r\n"
        f" <{personal.unsubscribe_mailto}>\r\n\r\n".encode(),
    ]
    for kind, value in compiled.body:
        if kind == _STATIC:
            out.append(value)
        elif kind == _HTML_VALUE:
            out.append(_qp(values_html[value]) + _SOFT_BREAK)
        else:
            out.append(_qp(values_text[value]) + _SOFT_BREAK)
    return b"".join(out)


def message_id_for(delivery_id: int) -> str:
    """Deterministic: a repeat after a crash carries the same id, so receivers can drop it."""
    return f"<ledger-{delivery_id}@{settings.MAILING_DOMAIN}>"
