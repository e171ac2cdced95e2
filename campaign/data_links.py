"""Short-lived links to a supporter's personal data (AVG art. 15, 17 and 20): export and erase.

The preference link in every email never expires and gets forwarded, so it only changes
preferences and unsubscribes. For the data, its page offers to email a fresh link that is:
- for one purpose, signed with that purpose's own salt (``tokens.DATA_SALTS``);
- valid for ``tokens.DATA_LINK_MAX_AGE`` (30 minutes) from the moment the email is sent;
- tied to the supporter's ``link_secret``, so revoking the preference link revokes it too;
- single-use: the export it makes records the link's nonce in its audit row, and a link whose
  nonce is there is spent (an erase link is spent by the erasure itself);
- minted inside the sending task, so no working link ever sits in the outbox table.
A GET of the link only shows a page with one button and the POST acts: a mail scanner
fetching the link exports or erases nothing.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from campaign import services
from campaign.models import Consent, Supporter, SupporterAudit
from campaign.tokens import InvalidToken, data_link_token, data_link_token_read
from worker.outbox import enqueue

EXPORT = "export"
ERASE = "erase"
PURPOSES = (EXPORT, ERASE)
KIND_DATA_LINK = "data_link"


class DataLinkOutcome(enum.StrEnum):
    READY = "ready"  # good: the page offers the button
    DONE = "done"
    USED = "used"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class DataLinkResult:
    outcome: DataLinkOutcome
    supporter: Supporter | None = None
    nonce: str = ""
    document: dict[str, Any] | None = None


def data_link_request(*, supporter_id: int, purpose: str) -> None:
    """Queue the email with a fresh link (the caller has applied the per-supporter limit)."""
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    with transaction.atomic():
        enqueue("campaign.tasks.data_link_send", supporter_id, purpose)


def data_link_send(*, supporter_id: int, purpose: str) -> bool:
    """Mint a link and email it to the supporter's own address, in their language."""
    from campaign import emails  # renders templates; keep this module importable without

    supporter = Supporter.objects.filter(
        pk=supporter_id, erased_at__isnull=True, email__isnull=False
    ).first()
    if supporter is None or purpose not in PURPOSES:
        return False
    token = data_link_token(
        purpose=purpose,
        supporter_id=supporter.pk,
        link_secret=supporter.link_secret,
        nonce=secrets.token_hex(8),
    )
    emails.data_link_message(supporter=supporter, purpose=purpose, token=token).send()
    SupporterAudit.objects.create(
        supporter=supporter,
        action=SupporterAudit.Action.CONFIRMATION_SENT,
        actor=SupporterAudit.Actor.SYSTEM,
        details={"kind": KIND_DATA_LINK, "purpose": purpose},
    )
    return True


def _state(token: str, *, purpose: str, lock: bool) -> DataLinkResult:
    try:
        claim = data_link_token_read(token, purpose=purpose)
    except InvalidToken:
        return DataLinkResult(DataLinkOutcome.INVALID)
    supporters = Supporter.objects.select_for_update() if lock else Supporter.objects
    supporter = supporters.filter(pk=claim.supporter_id, erased_at__isnull=True).first()
    if supporter is None or supporter.link_secret != claim.link_secret:
        return DataLinkResult(DataLinkOutcome.INVALID)
    used = SupporterAudit.objects.filter(
        supporter=supporter, action=SupporterAudit.Action.EXPORTED, details__link=claim.nonce
    ).exists()
    if used:
        return DataLinkResult(DataLinkOutcome.USED, supporter)
    if claim.expired:
        return DataLinkResult(DataLinkOutcome.EXPIRED, supporter)
    return DataLinkResult(DataLinkOutcome.READY, supporter, claim.nonce)


def data_link_check(*, token: str, purpose: str) -> DataLinkResult:
    """For the page a GET shows: reads only."""
    return _state(token, purpose=purpose, lock=False)


@transaction.atomic
def data_link_export(*, token: str) -> DataLinkResult:
    """The supporter's data, once per link. The supporter row stays locked until the audit
    row that spends the link commits, so two presses of the button export once."""
    state = _state(token, purpose=EXPORT, lock=True)
    if state.outcome is not DataLinkOutcome.READY or state.supporter is None:
        return state
    document = services.supporter_data_export(
        supporter_id=state.supporter.pk,
        actor=SupporterAudit.Actor.SUPPORTER,
        method=Consent.Method.EMAIL_LINK,
        link=state.nonce,
    )
    return DataLinkResult(DataLinkOutcome.DONE, state.supporter, state.nonce, document)


@transaction.atomic
def data_link_erase(*, token: str) -> DataLinkResult:
    state = _state(token, purpose=ERASE, lock=True)
    if state.outcome is not DataLinkOutcome.READY or state.supporter is None:
        return state
    services.supporter_erase(
        supporter_id=state.supporter.pk,
        actor=SupporterAudit.Actor.SUPPORTER,
        method=Consent.Method.EMAIL_LINK,
    )
    return DataLinkResult(DataLinkOutcome.DONE, state.supporter, state.nonce)
