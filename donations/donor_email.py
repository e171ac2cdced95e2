"""The emails donors get (notices, statements): the text a template wrote, in the campaign's
look, with the headers every email of ours carries (campaign/mail_headers.py)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import translation

from campaign.emails import preferences_url, unsubscribe_mailto, unsubscribe_url
from campaign.mail_headers import OutgoingEmail
from campaign.mail_layout import letter
from campaign.models import Supporter


def _supporter(supporter_id: int | None) -> Supporter | None:
    if supporter_id is None:
        return None
    return Supporter.objects.filter(
        pk=supporter_id, erased_at__isnull=True, email__isnull=False
    ).first()


def donor_email(
    *,
    template: str,
    context: dict[str, object],
    to: str,
    language: str,
    message_id: str,
    supporter_id: int | None = None,
) -> OutgoingEmail:
    """`template`_subject.txt and `template`.txt rendered in the donor's language, as text and
    HTML. A donor who is also a supporter gets the preference link and the one-click
    unsubscribe (from campaign mail; this email itself comes whatever they choose)."""
    supporter = _supporter(supporter_id)
    with translation.override(language):
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        text = render_to_string(f"{template}.txt", context)
    body = letter(
        text=text,
        title=subject,
        language=language,
        preferences_url=preferences_url(supporter) if supporter else "",
    )
    return OutgoingEmail(
        subject=subject,
        text=body.text,
        html=body.html,
        to=to,
        language=language,
        message_id=message_id,
        unsubscribe=(unsubscribe_url(supporter), unsubscribe_mailto(supporter))
        if supporter
        else None,
    )
