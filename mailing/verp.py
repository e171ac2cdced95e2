"""VERP envelope senders: bounces+<delivery id>-<signature>@<domain> (the signature a 64-bit
HMAC, so the local part stays well under RFC 5321's 64 octets). A DSN sent to it names the
ledger row it is about; a forged one cannot count bounces against someone else's address."""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

_SALT = "mailing.verp"
_SIGNATURE_HEX = 16


def _signature(delivery_id: int) -> str:
    return salted_hmac(_SALT, str(delivery_id), algorithm="sha256").hexdigest()[:_SIGNATURE_HEX]


def verp_sender(delivery_id: int) -> str:
    """The envelope sender of one ledger row's message; "" when VERP is off."""
    base = settings.MAILING_BOUNCE_ADDRESS
    if not base:
        return ""
    local, _, domain = base.rpartition("@")
    return f"{local}+{delivery_id}-{_signature(delivery_id)}@{domain}"


def verp_delivery_id(address: str) -> int | None:
    """The ledger row an address made by verp_sender names, or None (not ours, forged)."""
    base = settings.MAILING_BOUNCE_ADDRESS
    if not base or len(address) > 320:
        return None
    local, _, domain = base.rpartition("@")
    pattern = (
        rf"{re.escape(local)}\+(\d{{1,18}})-([0-9a-f]{{{_SIGNATURE_HEX}}})@{re.escape(domain)}"
    )
    found = re.fullmatch(pattern, address.strip().strip("<>"), re.IGNORECASE)
    if found is None:
        return None
    delivery_id = int(found.group(1))
    if not constant_time_compare(found.group(2).lower(), _signature(delivery_id)):
        return None
    return delivery_id
