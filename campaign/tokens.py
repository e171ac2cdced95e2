"""Signed links for supporters: confirmation (expires), preferences and unsubscribe (revocable),
and the short-lived personal-data links (export, erase).

Each kind has its own salt, so a token of one kind is never accepted as another. None holds
the email address: a link forwarded or logged by a proxy reveals only an id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

CONFIRM_SALT = "campaign.supporter.confirm"
PREFERENCES_SALT = "campaign.supporter.preferences"
# One salt per purpose: a download link can never erase, nor an erase link download.
DATA_SALTS = {"export": "campaign.supporter.data.export", "erase": "campaign.supporter.data.erase"}
# The preference link lives for years and gets forwarded; a data link only as long as a person
# needs to open the email it came in and press one button.
DATA_LINK_MAX_AGE = timedelta(minutes=30)
_VALUE = re.compile(r"^(?P<id>[1-9][0-9]{0,18})\.(?P<key>[0-9a-f]{8,16})$")
_DATA_VALUE = re.compile(
    r"^(?P<id>[1-9][0-9]{0,18})\.(?P<key>[0-9a-f]{8,16})\.(?P<nonce>[0-9a-f]{16})$"
)


class InvalidToken(Exception):
    pass


class LinkSigner(signing.Signer):
    """Django's Signer with the signature in hex: one 64-character word.

    Links in email text are read by spam filters. Django's base64 signature splits at '-'
    into words that now and then look like a Bitcoin address to SpamAssassin (__BITCOIN_ID: a
    30-35 character base58 word starting with 1 or 3; PDS_BTC_ID scored one message in ten).
    A hex word of 64 characters never matches. Same key, salt and HMAC as Django's."""

    def signature(self, value: str | bytes, key: str | bytes | None = None) -> str:
        key = key or self.key
        salt = self.salt if isinstance(self.salt, str) else self.salt.decode()
        return salted_hmac(salt + "signer", value, key, algorithm=self.algorithm).hexdigest()


class LinkTimestampSigner(LinkSigner, signing.TimestampSigner):
    pass


def link_signer(token: str, *, salt: str, timestamped: bool = False) -> signing.Signer:
    """The signer that made `token`: hex links (LinkSigner), or Django's base64 ones that emails
    sent before still carry (they keep working)."""
    hex_signed = len(token.rpartition(":")[2]) == 64
    if timestamped:
        return (LinkTimestampSigner if hex_signed else signing.TimestampSigner)(salt=salt)
    return (LinkSigner if hex_signed else signing.Signer)(salt=salt)


@dataclass(frozen=True)
class ConfirmationClaim:
    supporter_id: int
    nonce: str
    expired: bool


@dataclass(frozen=True)
class SupporterClaim:
    supporter_id: int
    link_secret: str


@dataclass(frozen=True)
class DataLinkClaim:
    supporter_id: int
    link_secret: str
    nonce: str  # this link's own: recorded when it is used, so it works once
    expired: bool


def _split(value: str) -> tuple[int, str]:
    match = _VALUE.match(value)
    if match is None:
        raise InvalidToken(value)
    return int(match["id"]), match["key"]


def confirmation_token(*, supporter_id: int, nonce: str) -> str:
    return LinkTimestampSigner(salt=CONFIRM_SALT).sign(f"{supporter_id}.{nonce}")


def confirmation_max_age() -> timedelta:
    return timedelta(days=settings.SUPPORTERS_CONFIRM_MAX_AGE_DAYS)


def confirmation_token_read(token: str) -> ConfirmationClaim:
    """The claim in a confirmation token; ``expired`` when it is authentic but too old."""
    signer = link_signer(token, salt=CONFIRM_SALT, timestamped=True)
    assert isinstance(signer, signing.TimestampSigner)
    expired = False
    try:
        value = signer.unsign(token, max_age=confirmation_max_age())
    except signing.SignatureExpired:
        # Authentic but old: read it anyway so the page can offer to send a fresh link.
        value = signer.unsign(token)
        expired = True
    except signing.BadSignature as exc:
        raise InvalidToken(token) from exc
    supporter_id, nonce = _split(value)
    return ConfirmationClaim(supporter_id=supporter_id, nonce=nonce, expired=expired)


def supporter_token(*, supporter_id: int, link_secret: str) -> str:
    """For the preference centre and one-click unsubscribe: valid until the secret rotates."""
    return LinkSigner(salt=PREFERENCES_SALT).sign(f"{supporter_id}.{link_secret}")


def supporter_token_read(token: str) -> SupporterClaim:
    try:
        value = link_signer(token, salt=PREFERENCES_SALT).unsign(token)
    except signing.BadSignature as exc:
        raise InvalidToken(token) from exc
    supporter_id, secret = _split(value)
    return SupporterClaim(supporter_id=supporter_id, link_secret=secret)


def data_link_token(*, purpose: str, supporter_id: int, link_secret: str, nonce: str) -> str:
    """A personal-data link for one purpose ("export" or "erase"), valid DATA_LINK_MAX_AGE."""
    return LinkTimestampSigner(salt=DATA_SALTS[purpose]).sign(
        f"{supporter_id}.{link_secret}.{nonce}"
    )


def data_link_token_read(token: str, *, purpose: str) -> DataLinkClaim:
    """The claim in a data link of this purpose; ``expired`` when authentic but too old."""
    signer = LinkTimestampSigner(salt=DATA_SALTS[purpose])
    expired = False
    try:
        value = signer.unsign(token, max_age=DATA_LINK_MAX_AGE)
    except signing.SignatureExpired:
        value = signer.unsign(token)
        expired = True
    except signing.BadSignature as exc:
        raise InvalidToken(token) from exc
    match = _DATA_VALUE.match(value)
    if match is None:
        raise InvalidToken(token)
    return DataLinkClaim(
        supporter_id=int(match["id"]),
        link_secret=match["key"],
        nonce=match["nonce"],
        expired=expired,
    )
