"""The mailto: half of List-Unsubscribe: mail to the unsubscribe address arrives through the
ESP's inbound webhook (django-anymail) and unsubscribes the person named by the signed token
in its subject, exactly like the one-click POST."""

from __future__ import annotations

import re
from typing import Any

import structlog
from anymail.signals import AnymailInboundEvent, inbound

from campaign.selectors import supporter_for_link
from campaign.services import supporter_unsubscribe

log = structlog.get_logger(__name__)
_SUBJECT = re.compile(r"\bunsubscribe\s+(\S+)", re.IGNORECASE)


def unsubscribe_by_mail(
    sender: Any, event: AnymailInboundEvent, esp_name: str, **kwargs: Any
) -> None:
    subject = event.message.subject if event.message is not None else ""
    match = _SUBJECT.search(subject or "")
    supporter = supporter_for_link(match.group(1)) if match else None
    if supporter is None:
        # Replies, auto-responders and forged tokens: nothing to do, nothing to tell.
        log.info("campaign.inbound_mail_ignored", esp=esp_name)
        return
    supporter_unsubscribe(supporter_id=supporter.pk, method="mailto", actor="supporter")
    log.info("campaign.unsubscribed_by_mail", supporter_id=supporter.pk, esp=esp_name)


def connect() -> None:
    inbound.connect(unsubscribe_by_mail, dispatch_uid="campaign.unsubscribe_by_mail")
