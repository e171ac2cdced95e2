"""DKIM signatures on marketing email, when a key is configured (dkimpy).

The signer lives in campaign/mail_headers.py so that every email of ours (campaign mail,
confirmations, donor notices, statements) is signed with the same key and header list.
"""

from __future__ import annotations

from campaign.mail_headers import SIGNED_HEADERS, dkim_enabled, dkim_sign

__all__ = ["SIGNED_HEADERS", "dkim_enabled", "dkim_sign"]
