"""One way every email we send gets its headers and its final bytes (issue 14).

Campaign mail builds its bytes itself (mailing/rendering.py); everything else (the confirmation,
data links, donor notices, statements) goes through Django's mail API as ``OutgoingEmail``,
whose message comes out of here: Message-ID on MAILING_DOMAIN, Reply-To, Content-Language,
List-Unsubscribe raw on the wire and a DKIM signature over the lot when a key is set.

Why raw: Python's email folding turns a header token longer than a line (our unsubscribe URL)
into an RFC 2047 encoded word (``=?utf-8?q?=3Chttps...``). Mailbox providers read
List-Unsubscribe as it stands, so such a header offers no unsubscribe at all. The line is
written here, folded after the comma as RFC 8058's examples are.

It sits in campaign, below both donations and mailing, so every app signs with one key.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from email.message import EmailMessage
from email.policy import Policy
from email.utils import make_msgid
from functools import cache
from pathlib import Path
from typing import Any

import dkim
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

# The headers receivers judge us by, the RFC 8058 unsubscribe headers included: a one-click
# unsubscribe that is not signed does not count with the big mailbox providers.
SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"MIME-Version",
    b"Content-Type",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
)
ONE_CLICK = "List-Unsubscribe=One-Click"
# What may appear between the angle brackets of a List-Unsubscribe entry: printable ASCII,
# no spaces, no brackets, no commas (our URLs percent-encode everything else).
_URI = re.compile(r"^[!-~]+$")


@cache
def _private_key(path: str) -> bytes:
    return Path(path).read_bytes()


def dkim_enabled() -> bool:
    return bool(settings.MAILING_DKIM_KEY_FILE)


def dkim_sign(message: bytes) -> bytes:
    """The message with a DKIM-Signature header in front (relaxed/relaxed, rsa-sha256)."""
    signature = dkim.sign(
        message,
        selector=settings.MAILING_DKIM_SELECTOR.encode(),
        domain=settings.MAILING_DKIM_DOMAIN.encode(),
        privkey=_private_key(settings.MAILING_DKIM_KEY_FILE),
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(SIGNED_HEADERS),
    )
    return signature + message


def message_id(kind: str, key: object) -> str:
    """Deterministic, on our own domain: a repeat after a crash carries the same id."""
    return f"<{kind}-{key}@{settings.MAILING_DOMAIN}>"


def fresh_message_id(kind: str) -> str:
    """Unique, on our own domain (never the host's name, which is `localhost` in a container)."""
    return make_msgid(idstring=kind, domain=settings.MAILING_DOMAIN)


def list_unsubscribe_line(url: str, mailto: str) -> bytes:
    """The RFC 8058 header line as it goes on the wire, folded after the comma."""
    for uri in (url, mailto):
        if not _URI.match(uri) or any(c in uri for c in "<>,"):
            raise ValueError(f"not a bare URI for List-Unsubscribe: {uri!r}")
    return f"List-Unsubscribe: <{url}>,\r\n <{mailto}>\r\n".encode("ascii")


_ENTRIES = re.compile(r"^\s*<([^<>]+)>\s*,\s*<([^<>]+)>\s*$")


def finish(message: EmailMessage) -> bytes:
    """The final bytes of a built message: List-Unsubscribe written raw, DKIM-signed when a
    key is set. The message is changed (its List-Unsubscribe header is taken out)."""
    unsubscribe = message.get("List-Unsubscribe")
    line = b""
    if unsubscribe is not None:
        entries = _ENTRIES.match(str(unsubscribe))
        if entries is None:
            raise ValueError(f"List-Unsubscribe must be <https://...>, <mailto:...>: {unsubscribe}")
        line = list_unsubscribe_line(entries[1], entries[2])
        del message["List-Unsubscribe"]
    raw = message.as_bytes(policy=email.policy.SMTP)
    head, blank, body = raw.partition(b"\r\n\r\n")
    raw = head + b"\r\n" + line.removesuffix(b"\r\n") + blank + body if line else raw
    return dkim_sign(raw) if dkim_enabled() else raw


class FinishedMessage(EmailMessage):
    """The finished bytes, with their headers parsed for whoever looks (the body is left
    unparsed: parsing it again would double the cost of an email), serialising to exactly
    those bytes: what Django's mail backends send (they all call ``message().as_bytes()``)."""

    finished: bytes | None = None

    @classmethod
    def of(cls, raw: bytes) -> FinishedMessage:
        parser = email.parser.BytesParser(_class=cls, policy=email.policy.SMTP)
        parsed = parser.parsebytes(raw, headersonly=True)
        assert isinstance(parsed, FinishedMessage)
        parsed.finished = raw
        return parsed

    def as_bytes(self, unixfrom: bool = False, policy: Policy | None = None) -> bytes:
        if self.finished is not None:
            return self.finished
        return super().as_bytes(unixfrom=unixfrom, policy=policy)

    def __bytes__(self) -> bytes:
        return self.as_bytes()


class OutgoingEmail(EmailMultiAlternatives):
    """An email with the headers every email of ours carries. `unsubscribe` is (URL, mailto)
    for email to a supporter; `marketing` adds List-Id."""

    def __init__(
        self,
        *,
        subject: str,
        text: str,
        html: str,
        to: str,
        language: str,
        message_id: str,
        unsubscribe: tuple[str, str] | None = None,
        marketing: bool = False,
    ) -> None:
        headers = {"Message-ID": message_id, "Content-Language": language}
        if unsubscribe is not None:
            headers["List-Unsubscribe"] = f"<{unsubscribe[0]}>, <{unsubscribe[1]}>"
            headers["List-Unsubscribe-Post"] = ONE_CLICK
        if marketing:
            headers["List-Id"] = settings.MAILING_LIST_ID
        super().__init__(
            subject=" ".join(subject.split()),
            body=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[to],
            reply_to=[settings.MAILING_REPLY_TO],
            headers=headers,
        )
        if html:
            self.attach_alternative(html, "text/html")

    def message(self, *, policy: Any = email.policy.default) -> Any:
        return FinishedMessage.of(finish(super().message(policy=policy)))
