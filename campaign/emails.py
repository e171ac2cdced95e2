"""Links every supporter email carries, and the confirmation email itself.

The mailing side builds its marketing emails with ``list_unsubscribe_headers(supporter)`` and
``preferences_url(supporter)``, so every email offers the same one-click unsubscribe (RFC 8058).
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from campaign.mail_headers import OutgoingEmail, fresh_message_id
from campaign.models import Supporter, Topic
from campaign.tokens import (
    DATA_LINK_MAX_AGE,
    confirmation_max_age,
    confirmation_token,
    supporter_token,
)

KIND_CONFIRM = "confirm"
KIND_SUBSCRIBED = "subscribed"


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def supporter_link_token(supporter: Supporter) -> str:
    return supporter_token(supporter_id=supporter.pk, link_secret=supporter.link_secret)


def preferences_url(supporter: Supporter) -> str:
    """The preference centre, in the supporter's language (its path is translated)."""
    with translation.override(supporter.language):
        path = reverse("campaign:preferences", kwargs={"token": supporter_link_token(supporter)})
    return _absolute(path)


def unsubscribe_url(supporter: Supporter) -> str:
    """The RFC 8058 one-click URL: a POST of List-Unsubscribe=One-Click unsubscribes."""
    return _absolute(
        reverse("supporter_unsubscribe", kwargs={"token": supporter_link_token(supporter)})
    )


def unsubscribe_mailto(supporter: Supporter) -> str:
    subject = quote(f"unsubscribe {supporter_link_token(supporter)}")
    return f"mailto:{settings.SUPPORTERS_UNSUBSCRIBE_MAILTO}?subject={subject}"


def list_unsubscribe_headers(supporter: Supporter) -> dict[str, str]:
    """The headers for every email to a supporter (RFC 2369 and RFC 8058)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(supporter)}>, <{unsubscribe_mailto(supporter)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def confirmation_url(supporter: Supporter) -> str:
    token = confirmation_token(supporter_id=supporter.pk, nonce=supporter.confirmation_nonce)
    with translation.override(supporter.language):
        path = reverse("campaign:signup_confirm", kwargs={"token": token})
    return _absolute(path)


def confirmation_message(
    *, supporter: Supporter, kind: str, pending: list[str], active: list[str]
) -> OutgoingEmail:
    """The double opt-in email (kind "confirm"), or for a supporter with nothing to confirm the
    "you are already subscribed" email (kind "subscribed"), in the supporter's language."""
    assert supporter.email is not None
    labels = dict(Topic.choices)
    with translation.override(supporter.language):
        context = {
            "supporter": supporter,
            "kind": kind,
            "pending_topics": [str(labels[t]) for t in pending if t in labels],
            "active_topics": [str(labels[t]) for t in active if t in labels],
            "confirm_url": confirmation_url(supporter) if kind == KIND_CONFIRM else "",
            "preferences_url": preferences_url(supporter),
            "valid_days": confirmation_max_age().days,
            "site_url": settings.SITE_URL,
        }
        subject = render_to_string("campaign/email/confirmation_subject.txt", context)
        text = render_to_string("campaign/email/confirmation.txt", context)
        html = render_to_string("campaign/email/confirmation.html", context)
    return _supporter_email(supporter, kind="confirm", subject=subject, text=text, html=html)


# The page each purpose's link opens (campaign/data_links.py).
_DATA_LINK_VIEWS = {"export": "campaign:data_export", "erase": "campaign:data_erase"}


def data_link_url(*, supporter: Supporter, purpose: str, token: str) -> str:
    with translation.override(supporter.language):
        path = reverse(_DATA_LINK_VIEWS[purpose], kwargs={"token": token})
    return _absolute(path)


def data_link_message(*, supporter: Supporter, purpose: str, token: str) -> OutgoingEmail:
    """The email with a short-lived link to download (purpose "export") or erase ("erase") the
    supporter's data, sent only to the supporter's own address."""
    assert supporter.email is not None
    with translation.override(supporter.language):
        context = {
            "supporter": supporter,
            "purpose": purpose,
            "link_url": data_link_url(supporter=supporter, purpose=purpose, token=token),
            "minutes": int(DATA_LINK_MAX_AGE.total_seconds() // 60),
            "preferences_url": preferences_url(supporter),
        }
        subject = render_to_string("campaign/email/data_link_subject.txt", context)
        text = render_to_string("campaign/email/data_link.txt", context)
        html = render_to_string("campaign/email/data_link.html", context)
    return _supporter_email(supporter, kind="datalink", subject=subject, text=text, html=html)


def _supporter_email(
    supporter: Supporter, *, kind: str, subject: str, text: str, html: str
) -> OutgoingEmail:
    """Every email to a supporter offers the one-click unsubscribe (campaign/mail_headers.py
    writes it raw and signs it)."""
    assert supporter.email is not None
    return OutgoingEmail(
        subject=subject,
        text=text,
        html=html,
        to=supporter.email,
        language=supporter.language,
        message_id=fresh_message_id(kind),
        unsubscribe=(unsubscribe_url(supporter), unsubscribe_mailto(supporter)),
    )
