"""What staff see before sending: the real rendered email for a chosen supporter, and a test send.

Both render the draft content as it stands (services.message_snapshot), through the same
compile/assemble path the worker uses (rendering.py), so what the preview shows is what goes
out. Neither writes a ledger row: a test send is not a send.

Links in a preview or a test point at the site, not at the supporter's own preference or
unsubscribe pages: a marketer clicking around in a test email must not change anyone's consent.
"""

from __future__ import annotations

import email
import email.policy
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr

from django.conf import settings
from django.urls import reverse
from django.utils import translation

from campaign.models import Supporter
from mailing.models import LANGUAGES, Mailing, SequenceStep
from mailing.rendering import Personal, compile_content, message_bytes
from mailing.services import message_snapshot
from mailing.transport import Letter, deliver_one, transport_default

TEST_SUBJECT_PREFIX = "[TEST] "


@dataclass(frozen=True)
class Preview:
    language: str
    subject: str
    subject_b: str
    html: str
    text: str
    raw: bytes


def _donate_url(language: str) -> str:
    with translation.override(language):
        return settings.SITE_URL + reverse("donations:donate")


def _personal(*, address: str, name: str, language: str, message_id: str) -> Personal:
    inert = settings.SITE_URL + "/"
    return Personal(
        address=address,
        name=name,
        donate_url=_donate_url(language),
        preferences_url=inert,
        unsubscribe_url=inert,
        unsubscribe_mailto=f"mailto:{settings.SUPPORTERS_UNSUBSCRIBE_MAILTO}",
        message_id=message_id,
    )


def _parts(raw: bytes) -> tuple[str, str, str]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html_part = parsed.get_body(preferencelist=("html",))
    text_part = parsed.get_body(preferencelist=("plain",))
    html = html_part.get_content() if html_part is not None else ""
    text = text_part.get_content() if text_part is not None else ""
    return str(parsed["Subject"]), html, text


def render_preview(
    source: Mailing | SequenceStep, *, language: str, supporter: Supporter | None = None
) -> Preview:
    """The email as `supporter` (or an anonymous reader) would get it in `language`."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    content = message_snapshot(source)
    compiled = compile_content(content, language, boundary_seed=f"preview:{uuid.uuid4()}")
    personal = _personal(
        address=(supporter.email if supporter else "") or "preview@example.invalid",
        name=supporter.first_name if supporter else "",
        language=language,
        message_id=f"<preview-{uuid.uuid4()}@{settings.MAILING_DOMAIN}>",
    )
    raw = message_bytes(compiled, personal)
    subject, html, text = _parts(raw)
    subject_b = ""
    if "B" in compiled.subjects:
        subject_b, _html, _text = _parts(message_bytes(compiled, personal, variant="B"))
    return Preview(
        language=language, subject=subject, subject_b=subject_b, html=html, text=text, raw=raw
    )


def send_test(
    source: Mailing | SequenceStep,
    *,
    to_address: str,
    language: str,
    supporter: Supporter | None = None,
) -> str:
    """Send the preview to a staff member's own address, marked as a test; returns its
    Message-ID. Raises smtplib.SMTPException/OSError when the mail server refuses or is down."""
    if not to_address:
        raise ValueError("your staff account has no email address")
    content = message_snapshot(source)
    for localized in content["languages"].values():
        localized["subject"] = TEST_SUBJECT_PREFIX + localized["subject"]
        if localized.get("subject_b"):
            localized["subject_b"] = TEST_SUBJECT_PREFIX + localized["subject_b"]
    compiled = compile_content(content, language, boundary_seed=f"test:{uuid.uuid4()}")
    message_id = f"<test-{uuid.uuid4()}@{settings.MAILING_DOMAIN}>"
    personal = _personal(
        address=to_address,
        name=supporter.first_name if supporter else "",
        language=language,
        message_id=message_id,
    )
    letter = Letter(key=0, recipient=to_address, compiled=compiled, personal=personal, variant="A")
    transport = transport_default()
    try:
        deliver_one(transport, parseaddr(settings.DEFAULT_FROM_EMAIL)[1], letter)
    finally:
        transport.close()
    return message_id
