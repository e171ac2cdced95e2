"""DKIM signatures on marketing email, when a key is configured (dkimpy).

The signature covers the headers receivers judge us by, the RFC 8058 unsubscribe headers
included: a one-click unsubscribe that is not signed does not count with the big mailbox
providers.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dkim
from django.conf import settings

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
