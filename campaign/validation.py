"""Validators shared by the sign-up form, the preference centre and the JSON API.

Messages are translated; nothing here touches the database or the network.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email

EMAIL_MAX_LENGTH = 254
FIRST_NAME_MAX_LENGTH = 100
# Also the forms' "max_length" messages, which Django formats with %(limit_value)d.
EMAIL_TOO_LONG = _("An email address has at most %(limit_value)d characters.")
FIRST_NAME_TOO_LONG = _("A first name has at most %(limit_value)d characters.")
TEXT_TOO_LONG = _("This field has at most %(limit_value)d characters.")

# Bidirectional overrides and isolates re-order what a reader sees (spoofed names in emails).
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
# "spam.example", "www.x.nl": a dot between letters with two or more after it reads as a domain
# (initials such as "J.R." and "Jr." stay allowed).
_DOMAIN_LIKE = re.compile(r"\w\.\w{2,}")
_NAME_PUNCTUATION = set(" -'.\u2019")  # \u2019: the typographic apostrophe


def reject_unsafe_characters(value: str) -> None:
    """Control characters (NUL included), lone surrogates and bidi overrides never get stored."""
    for char in value:
        category = unicodedata.category(char)
        if category in {"Cc", "Cs"} or char in _BIDI_CONTROLS:
            raise ValidationError(
                _("Remove the invisible or control characters from this field."),
                code="unsafe_characters",
            )


# A sign-up reads its address twice (for its rate limit, then in its form); errors are never
# kept, so each is raised in the language of the request that asks.
@functools.lru_cache(maxsize=256)
def normalise_email(value: str) -> str:
    """The address as we store it (email-validator's ASCII form), or a translated error.

    Syntax only: no DNS lookups (a sign-up must not wait on, or leak to, a resolver).
    """
    value = value.strip()
    if not value:
        raise ValidationError(_("Enter your email address."), code="required")
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValidationError(
            EMAIL_TOO_LONG % {"limit_value": EMAIL_MAX_LENGTH},
            code="max_length",
        )
    reject_unsafe_characters(value)
    if "@" not in value:
        raise ValidationError(
            _("An email address needs an @, as in name@example.nl."), code="invalid"
        )
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise ValidationError(
            _("Enter a valid email address, such as name@example.nl."), code="invalid"
        ) from None
    if len(result.ascii_email or "") > EMAIL_MAX_LENGTH:
        raise ValidationError(
            EMAIL_TOO_LONG % {"limit_value": EMAIL_MAX_LENGTH},
            code="max_length",
        )
    return str(result.ascii_email)


def clean_first_name(value: str) -> str:
    """Letters (any script), spaces, hyphens, apostrophes and dots: a name, never a link.

    Bots put URLs in name fields so that our confirmation email greets a victim with them.
    """
    value = " ".join(value.split())
    if not value:
        return ""
    if len(value) > FIRST_NAME_MAX_LENGTH:
        raise ValidationError(
            FIRST_NAME_TOO_LONG % {"limit_value": FIRST_NAME_MAX_LENGTH},
            code="max_length",
        )
    reject_unsafe_characters(value)
    allowed = all(
        unicodedata.category(char)[0] in {"L", "M"} or char in _NAME_PUNCTUATION for char in value
    )
    has_letter = any(unicodedata.category(char)[0] == "L" for char in value)
    if not allowed or not has_letter or _DOMAIN_LIKE.search(value):
        raise ValidationError(
            _("Use only letters, spaces, hyphens and apostrophes in your first name."),
            code="invalid",
        )
    return unicodedata.normalize("NFC", value)
