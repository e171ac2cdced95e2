"""Writes for supporters and their consent. Each service is one transaction with its audit row.

Callers pass plain values; the request-facing code (views, API) resolves tokens, validates input
and applies rate limits before calling here.
"""

from __future__ import annotations

import enum
import ipaddress
import secrets
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from hmac import compare_digest
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, RestrictedError
from django.db.models.functions import Lower
from django.dispatch import Signal
from django.utils import timezone

from backoffice.audit import created_entry
from campaign import events, wording
from campaign.consent_defaults import DEFAULT_CONSENT_TEXTS
from campaign.models import Consent, ConsentText, Supporter, SupporterAudit
from campaign.tokens import InvalidToken, confirmation_token_read
from config.rows import next_id, rows_insert
from worker.outbox import enqueue, enqueue_soon, outbox_flush_after_commit, outbox_row_soon

log = structlog.get_logger(__name__)

Action = SupporterAudit.Action
Actor = SupporterAudit.Actor

USER_AGENT_MAX_LENGTH = 500
# The unique index on lower(email) (campaign.models.Supporter.Meta).
SUPPORTER_EMAIL_UNIQUE = "supporter_email_ci_unique"


@dataclass(frozen=True)
class SignupSource:
    page: str = ""
    referrer: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""


@dataclass(frozen=True)
class Evidence:
    """How, and from where, a consent was given, confirmed or withdrawn."""

    method: str
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_values(cls, *, method: str, ip: str | None, user_agent: str) -> Evidence:
        try:
            checked_ip = str(ipaddress.ip_address(ip)) if ip else None
        except ValueError:
            checked_ip = None
        agent = "".join(char for char in user_agent if char.isprintable())
        return cls(method=method, ip=checked_ip, user_agent=agent[:USER_AGENT_MAX_LENGTH])


class ConfirmOutcome(enum.StrEnum):
    READY = "ready"  # the link is good: the page offers the button that confirms
    CONFIRMED = "confirmed"
    ALREADY_USED = "already_used"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True)
class ConfirmResult:
    outcome: ConfirmOutcome
    supporter: Supporter | None = None


# --- helpers ------------------------------------------------------------------------------------


def _audit(supporter: Supporter, action: str, **fields: Any) -> SupporterAudit:
    """The audit row (see _audit_row), saved."""
    row = _audit_row(supporter, action, **fields)
    row.save(force_insert=True)
    return row


def _audit_row(
    supporter: Supporter,
    action: str,
    *,
    actor: str,
    method: str = "",
    staff_user_id: int | None = None,
    **details: Any,
) -> SupporterAudit:
    """The audit row, unsaved."""
    return SupporterAudit(
        supporter=supporter,
        action=action,
        actor=actor,
        method=method,
        staff_user_id=staff_user_id,
        details=details,
    )


def _send_after_commit(signal: Signal, **kwargs: Any) -> None:
    def send() -> None:
        for receiver, result in signal.send_robust(sender=Supporter, **kwargs):
            if isinstance(result, Exception):
                log.error(
                    "supporter.event_receiver_failed",
                    receiver=getattr(receiver, "__qualname__", repr(receiver)),
                    error=repr(result),
                    **kwargs,
                )

    transaction.on_commit(send)


def _open_consents(supporter: Supporter) -> dict[str, Consent]:
    return {
        consent.topic: consent
        for consent in Consent.objects.filter(supporter=supporter, withdrawn_at__isnull=True)
    }


def _status_of(supporter: Supporter, open_rows: Sequence[Consent]) -> str:
    """The status from the open consents already in hand (no query)."""
    if supporter.erased_at is not None:
        return Supporter.Status.ERASED
    if any(c.confirmed_at is not None for c in open_rows):
        return Supporter.Status.ACTIVE
    if open_rows:
        return Supporter.Status.PENDING
    if supporter.confirmed_at or supporter.unsubscribed_at:
        return Supporter.Status.UNSUBSCRIBED
    return supporter.status


def _status_refresh(supporter: Supporter) -> None:
    if supporter.erased_at is not None:
        supporter.status = Supporter.Status.ERASED
        return
    open_rows = Consent.objects.filter(supporter=supporter, withdrawn_at__isnull=True)
    if open_rows.filter(confirmed_at__isnull=False).exists():
        supporter.status = Supporter.Status.ACTIVE
    elif open_rows.exists():
        supporter.status = Supporter.Status.PENDING
    elif Consent.objects.filter(supporter=supporter).exists() or supporter.unsubscribed_at:
        supporter.status = Supporter.Status.UNSUBSCRIBED
    else:
        supporter.status = Supporter.Status.PENDING


def _texts_mark_used(texts: Sequence[ConsentText], now: Any) -> None:
    ConsentText.objects.filter(
        pk__in=[text.pk for text in texts], first_used_at__isnull=True
    ).update(first_used_at=now)
    # Processes keep the wording they read (campaign.wording): theirs still says "unused".
    wording.generation_replace_after_commit()


def _supporter_lock_or_create(*, email: str, defaults: dict[str, Any]) -> tuple[Supporter, bool]:
    """The supporter with this address, locked FOR UPDATE, created if there is none.

    Two requests for the same address (in any case) can race past the first SELECT. The unique
    index on lower(email) lets one INSERT win; the other fails inside its savepoint, waits for
    the winner's commit, and reads and locks the winner's row instead.
    """
    locked = (
        Supporter.objects.select_for_update()
        .alias(email_lower=Lower("email"))
        .filter(email_lower=email.lower())
    )
    supporter = locked.first()
    if supporter is not None:
        return supporter, False
    try:
        with transaction.atomic():
            return Supporter.objects.create(email=email, **defaults), True
    except IntegrityError:
        supporter = locked.first()
        if supporter is None:
            raise
        log.info("supporter.signup_race_resolved", supporter_id=supporter.pk)
        return supporter, False


# --- sign-up and double opt-in ----------------------------------------------------------------


def supporter_sign_up(
    *,
    email: str,
    first_name: str,
    language: str,
    texts: Mapping[str, ConsentText],
    evidence: Evidence,
    source: SignupSource,
) -> Supporter:
    """Record a sign-up: pending consents for the topics (with the wording shown) and a
    confirmation email. A known address gets the same treatment as a new one, so the caller
    answers identically either way; its confirmed consents and profile are never changed by an
    unconfirmed request.

    A new address (most of a TV appeal's sign-ups) takes an id and one statement that writes
    every row, and nothing else: the supporter's unique index decides whether the address is
    new. A known address's statement is refused whole and it takes the locked path."""
    try:
        # One statement needs no transaction of its own (nested in one, it needs a savepoint:
        # its failure must not abort the caller's).
        unused = any(text.first_used_at is None for text in texts.values())
        with transaction.atomic() if connection.in_atomic_block or unused else nullcontext():
            return _sign_up_new(
                email=email,
                first_name=first_name,
                language=language,
                texts=texts,
                evidence=evidence,
                source=source,
            )
    except IntegrityError as error:
        if not _is_known_address(error):
            raise
    with transaction.atomic():
        return _sign_up_known(
            email=email,
            first_name=first_name,
            language=language,
            texts=texts,
            evidence=evidence,
            source=source,
        )


def _is_known_address(error: IntegrityError) -> bool:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == SUPPORTER_EMAIL_UNIQUE


def _sign_up_new(
    *,
    email: str,
    first_name: str,
    language: str,
    texts: Mapping[str, ConsentText],
    evidence: Evidence,
    source: SignupSource,
) -> Supporter:
    """The supporter, its audit-log entry, its audit row, its consents and its confirmation
    email, in one statement after the supporter's id; raises IntegrityError (nothing written)
    when the address is known."""
    supporter = Supporter(
        pk=next_id(Supporter), email=email, **_new_supporter(first_name, language, texts, source)
    )
    # Set here, not at the INSERT: the audit-log entry and the consents record these.
    supporter.created_at = supporter.updated_at = now = timezone.now()
    rows_insert(
        [
            supporter,
            created_entry(supporter),
            _signed_up_row(supporter, texts, evidence, language),
            *_consent_rows(supporter, texts, evidence, now=now),
            # Published by the outbox's flush (as for a known address): a peak's requests are
            # spared a broker publish each.
            outbox_row_soon("campaign.tasks.confirmation_send", supporter.pk),
        ]
    )
    outbox_flush_after_commit()
    _texts_first_use(texts, now)
    return supporter


def _signed_up_row(
    supporter: Supporter, texts: Mapping[str, ConsentText], evidence: Evidence, language: str
) -> SupporterAudit:
    """The consent history's "signed up" row for a new supporter, unsaved."""
    return _audit_row(
        supporter,
        Action.SIGNED_UP,
        actor=Actor.SUPPORTER,
        method=evidence.method,
        topics=sorted(texts),
        language=language,
    )


def _sign_up_known(
    *,
    email: str,
    first_name: str,
    language: str,
    texts: Mapping[str, ConsentText],
    evidence: Evidence,
    source: SignupSource,
) -> Supporter:
    """A sign-up for an address we have (or that a concurrent request just stored), under the
    supporter's row lock."""
    now = timezone.now()
    supporter, created = _supporter_lock_or_create(
        email=email, defaults=_new_supporter(first_name, language, texts, source)
    )
    changed: list[str] = []
    if created:  # erased (or pruned) between the two transactions: new after all
        _signed_up_row(supporter, texts, evidence, language).save(force_insert=True)
        _consents_add(supporter, texts, evidence, now=now)
        enqueue_soon("campaign.tasks.confirmation_send", supporter.pk)
        return supporter
    if supporter.confirmed_at is None:
        # Never confirmed: the newest request's details are as good as the first one's.
        if first_name and first_name != supporter.first_name:
            supporter.first_name = first_name
            changed.append("first_name")
        if language != supporter.language:
            supporter.language = language
            changed.append("language")
    _audit(
        supporter,
        Action.SIGNED_UP_AGAIN,
        actor=Actor.SUPPORTER,
        method=evidence.method,
        topics=sorted(texts),
        changed=changed,
    )
    open_by_topic = _open_consents(supporter)
    # Already consented, or already waiting: the first evidence stays.
    new = _consents_add(
        supporter,
        {topic: text for topic, text in texts.items() if topic not in open_by_topic},
        evidence,
        now=now,
    )
    open_rows = [*open_by_topic.values(), *new]
    pending = any(c.confirmed_at is None for c in open_rows)
    if pending and not supporter.confirmation_nonce:
        supporter.confirmation_nonce = secrets.token_hex(8)
        changed.append("confirmation_nonce")
    status = _status_of(supporter, open_rows)
    if status != supporter.status:
        supporter.status = status
        changed.append("status")
    if changed:
        supporter.save(update_fields=[*changed, "updated_at"])
    enqueue_soon("campaign.tasks.confirmation_send", supporter.pk)
    return supporter


def _new_supporter(
    first_name: str, language: str, texts: Mapping[str, ConsentText], source: SignupSource
) -> dict[str, Any]:
    """A new supporter's fields, besides the address."""
    return {
        "first_name": first_name,
        "language": language,
        "source_page": source.page,
        "source_referrer": source.referrer,
        "utm_source": source.utm_source,
        "utm_medium": source.utm_medium,
        "utm_campaign": source.utm_campaign,
        "utm_term": source.utm_term,
        "utm_content": source.utm_content,
        # Known before the row exists: everything asked for is waiting for confirmation.
        "status": Supporter.Status.PENDING if texts else Supporter.Status.UNSUBSCRIBED,
        "confirmation_nonce": secrets.token_hex(8) if texts else "",
    }


def _consents_add(
    supporter: Supporter, texts: Mapping[str, ConsentText], evidence: Evidence, *, now: Any
) -> list[Consent]:
    """Pending consents for these topics, in one INSERT, with the wording shown (frozen from
    its first use)."""
    rows = Consent.objects.bulk_create(_consent_rows(supporter, texts, evidence, now=now))
    _texts_first_use(texts, now)
    return rows


def _consent_rows(
    supporter: Supporter, texts: Mapping[str, ConsentText], evidence: Evidence, *, now: Any
) -> list[Consent]:
    """Pending consents for these topics with the wording shown, unsaved."""
    return [
        Consent(
            supporter=supporter,
            topic=topic,
            text=text,
            method=evidence.method,
            given_at=now,
            ip=evidence.ip,
            user_agent=evidence.user_agent,
        )
        for topic, text in texts.items()
    ]


def _texts_first_use(texts: Mapping[str, ConsentText], now: Any) -> None:
    """Freeze the wording shown: a text in use is never edited again."""
    unused = [text for text in texts.values() if text.first_used_at is None]
    if unused:
        _texts_mark_used(unused, now)


@transaction.atomic
def supporter_link_resend(*, email: str) -> bool:
    """Send the known address its confirmation link again, or (when confirmed) a link to its
    preference centre. Unknown addresses: nothing, and the caller answers the same."""
    supporter = (
        Supporter.objects.alias(email_lower=Lower("email"))
        .filter(email_lower=email.lower(), erased_at__isnull=True)
        .first()
    )
    if supporter is None:
        return False
    enqueue("campaign.tasks.confirmation_send", supporter.pk)
    return True


@transaction.atomic
def supporter_link_resend_for(*, supporter_id: int) -> bool:
    if not Supporter.objects.filter(pk=supporter_id, erased_at__isnull=True).exists():
        return False
    enqueue("campaign.tasks.confirmation_send", supporter_id)
    return True


def confirmation_send(*, supporter_id: int) -> str | None:
    """Send the confirmation email (or, with nothing to confirm, the "you are subscribed" email
    with the preference-centre link) in the supporter's language. Returns the kind sent.

    Decides at send time: someone who unsubscribed or was erased since the request gets nothing.
    """
    from campaign import emails  # the email module renders templates; keep services importable

    supporter = Supporter.objects.filter(
        pk=supporter_id, erased_at__isnull=True, email__isnull=False
    ).first()
    if supporter is None:
        return None
    open_rows = list(Consent.objects.filter(supporter=supporter, withdrawn_at__isnull=True))
    pending = sorted(c.topic for c in open_rows if c.confirmed_at is None)
    active = sorted(c.topic for c in open_rows if c.confirmed_at is not None)
    if pending and supporter.confirmation_nonce:
        kind = emails.KIND_CONFIRM
    elif active:
        kind = emails.KIND_SUBSCRIBED
    else:
        return None
    emails.confirmation_message(
        supporter=supporter, kind=kind, pending=pending, active=active
    ).send()
    _audit(supporter, Action.CONFIRMATION_SENT, actor=Actor.SYSTEM, kind=kind)
    return kind


def _confirmation_state(token: str, *, lock: bool) -> ConfirmResult:
    """What a confirmation link would do now: READY, or why not. Changes nothing."""
    try:
        claim = confirmation_token_read(token)
    except InvalidToken:
        return ConfirmResult(ConfirmOutcome.INVALID)
    supporters = Supporter.objects.select_for_update() if lock else Supporter.objects
    supporter = supporters.filter(pk=claim.supporter_id, erased_at__isnull=True).first()
    if supporter is None:
        return ConfirmResult(ConfirmOutcome.INVALID)
    if not supporter.confirmation_nonce or not compare_digest(
        claim.nonce, supporter.confirmation_nonce
    ):
        return ConfirmResult(ConfirmOutcome.ALREADY_USED, supporter)
    if claim.expired:
        return ConfirmResult(ConfirmOutcome.EXPIRED, supporter)
    return ConfirmResult(ConfirmOutcome.READY, supporter)


def confirmation_check(*, token: str) -> ConfirmResult:
    """For the page a GET of the link shows: reads only, so a link scanner confirms nobody."""
    return _confirmation_state(token, lock=False)


@transaction.atomic
def supporter_confirm(*, token: str, evidence: Evidence) -> ConfirmResult:
    """Complete the double opt-in (a person pressed the button on the link's page; the evidence
    is that request's). Expired, tampered and used links change nothing."""
    state = _confirmation_state(token, lock=True)
    if state.outcome is not ConfirmOutcome.READY or state.supporter is None:
        return state
    supporter = state.supporter

    now = timezone.now()
    pending = list(
        Consent.objects.filter(
            supporter=supporter, withdrawn_at__isnull=True, confirmed_at__isnull=True
        )
    )
    for consent in pending:
        consent.confirmed_at = now
        consent.confirmed_ip = evidence.ip
        consent.confirmed_user_agent = evidence.user_agent
        consent.save(update_fields=["confirmed_at", "confirmed_ip", "confirmed_user_agent"])
    first_time = supporter.confirmed_at is None
    supporter.confirmed_at = supporter.confirmed_at or now
    supporter.confirmation_nonce = ""
    _status_refresh(supporter)
    supporter.save()
    topics = sorted(c.topic for c in pending)
    _audit(
        supporter, Action.CONFIRMED, actor=Actor.SUPPORTER, method=evidence.method, topics=topics
    )
    _send_after_commit(
        events.supporter_confirmed, supporter_id=supporter.pk, topics=topics, first_time=first_time
    )
    return ConfirmResult(ConfirmOutcome.CONFIRMED, supporter)


# --- preference centre and unsubscribe --------------------------------------------------------


@dataclass(frozen=True)
class PreferencesChange:
    added: list[str]
    removed: list[str]
    fields: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.fields)


@transaction.atomic
def supporter_preferences_update(
    *,
    supporter_id: int,
    first_name: str,
    language: str,
    texts: Mapping[str, ConsentText],
    evidence: Evidence,
) -> PreferencesChange:
    """Apply the preference centre: ``texts`` holds the topics wanted, with the wording shown.

    The signed link came by email, so ticking a topic here proves the mailbox as the
    confirmation link does: it is confirmed at once (and confirms a pending one).
    """
    supporter = (
        Supporter.objects.select_for_update()
        .filter(pk=supporter_id, erased_at__isnull=True)
        .first()
    )
    if supporter is None:  # erased between opening the page and saving it
        return PreferencesChange(added=[], removed=[], fields=[])
    now = timezone.now()
    was_active = supporter.status == Supporter.Status.ACTIVE
    open_by_topic = _open_consents(supporter)
    added: list[str] = []
    removed: list[str] = []
    for topic in sorted(set(open_by_topic) | set(texts)):
        consent = open_by_topic.get(topic)
        if topic in texts and consent is None:
            Consent.objects.create(
                supporter=supporter,
                topic=topic,
                text=texts[topic],
                method=evidence.method,
                given_at=now,
                ip=evidence.ip,
                user_agent=evidence.user_agent,
                confirmed_at=now,
                confirmed_ip=evidence.ip,
                confirmed_user_agent=evidence.user_agent,
            )
            added.append(topic)
        elif topic in texts and consent is not None and consent.confirmed_at is None:
            consent.confirmed_at = now
            consent.confirmed_ip = evidence.ip
            consent.confirmed_user_agent = evidence.user_agent
            consent.save(update_fields=["confirmed_at", "confirmed_ip", "confirmed_user_agent"])
            added.append(topic)
        elif topic not in texts and consent is not None:
            consent.withdrawn_at = now
            consent.withdrawn_method = evidence.method
            consent.save(update_fields=["withdrawn_at", "withdrawn_method"])
            removed.append(topic)
    _texts_mark_used([texts[topic] for topic in added if topic in texts], now)

    fields: list[str] = []
    if first_name != supporter.first_name:
        supporter.first_name = first_name
        fields.append("first_name")
    if language != supporter.language:
        supporter.language = language
        fields.append("language")
    change = PreferencesChange(added=added, removed=removed, fields=fields)
    if not change.changed:
        return change

    first_time = bool(added) and supporter.confirmed_at is None
    if added:
        supporter.confirmed_at = supporter.confirmed_at or now
    if not Consent.objects.filter(
        supporter=supporter, withdrawn_at__isnull=True, confirmed_at__isnull=True
    ).exists():
        supporter.confirmation_nonce = ""
    if (
        removed
        and not Consent.objects.filter(supporter=supporter, withdrawn_at__isnull=True).exists()
    ):
        supporter.unsubscribed_at = now
    _status_refresh(supporter)
    supporter.save()
    _audit(
        supporter,
        Action.PREFERENCES_CHANGED,
        actor=Actor.SUPPORTER,
        method=evidence.method,
        added=added,
        removed=removed,
        fields=fields,
        language=supporter.language,
    )
    if added:
        _send_after_commit(
            events.supporter_confirmed,
            supporter_id=supporter.pk,
            topics=added,
            first_time=first_time,
        )
    if was_active and supporter.status != Supporter.Status.ACTIVE:
        _send_after_commit(
            events.supporter_unsubscribed, supporter_id=supporter.pk, method=evidence.method
        )
    return change


@transaction.atomic
def supporter_unsubscribe(
    *, supporter_id: int, method: str, actor: str, staff_user_id: int | None = None
) -> bool:
    """Withdraw every open consent (confirmed or waiting) at once. Returns False when there was
    nothing left to withdraw: repeating it is harmless and writes nothing."""
    supporter = (
        Supporter.objects.select_for_update()
        .filter(pk=supporter_id, erased_at__isnull=True)
        .first()
    )
    if supporter is None:
        return False
    now = timezone.now()
    open_rows = list(Consent.objects.filter(supporter=supporter, withdrawn_at__isnull=True))
    if not open_rows and not supporter.confirmation_nonce:
        return False
    for consent in open_rows:
        consent.withdrawn_at = now
        consent.withdrawn_method = method
        consent.save(update_fields=["withdrawn_at", "withdrawn_method"])
    # An old confirmation link must not undo this.
    supporter.confirmation_nonce = ""
    supporter.unsubscribed_at = now
    _status_refresh(supporter)
    supporter.save()
    _audit(
        supporter,
        Action.UNSUBSCRIBED,
        actor=actor,
        method=method,
        staff_user_id=staff_user_id,
        topics=sorted(c.topic for c in open_rows),
    )
    _send_after_commit(events.supporter_unsubscribed, supporter_id=supporter.pk, method=method)
    return True


# --- AVG (GDPR) rights ------------------------------------------------------------------------


def supporter_data_export(
    *,
    supporter_id: int,
    actor: str,
    method: str,
    staff_user_id: int | None = None,
    link: str = "",
) -> dict[str, Any]:
    """Every personal datum held about the supporter (campaign/personal_data.py), audited.
    ``link``: the nonce of the data link used, kept in the audit row so it works only once."""
    from campaign import personal_data

    details = {"link": link} if link else {}
    with transaction.atomic():
        supporter = Supporter.objects.select_for_update().get(pk=supporter_id)
        document = personal_data.export_document(supporter)
        _audit(
            supporter,
            Action.EXPORTED,
            actor=actor,
            method=method,
            staff_user_id=staff_user_id,
            **details,
        )
    return document


@transaction.atomic
def supporter_erase(
    *, supporter_id: int, actor: str, method: str, staff_user_id: int | None = None
) -> str | None:
    """Erase the supporter's personal data at once; returns the pseudonym, or None when there was
    nothing (left) to erase. Other apps pseudonymise the rows they must keep through the
    ``supporter_erased`` event and the personal-data providers, in this same transaction."""
    from campaign import personal_data

    supporter = (
        Supporter.objects.select_for_update()
        .filter(pk=supporter_id, erased_at__isnull=True)
        .first()
    )
    if supporter is None:
        return None
    pseudonym = f"anon-{secrets.token_hex(8)}"
    # Receivers see the supporter still intact; an exception rolls everything back.
    events.supporter_erased.send(sender=Supporter, supporter_id=supporter.pk, pseudonym=pseudonym)
    personal_data.erase_all(supporter, pseudonym)
    _audit(
        supporter,
        Action.ERASED,
        actor=actor,
        method=method,
        staff_user_id=staff_user_id,
        pseudonym=pseudonym,
    )
    log.info("supporter.erased", supporter_id=supporter.pk, pseudonym=pseudonym)
    return pseudonym


def supporters_unconfirmed_prune(*, older_than: timedelta | None = None) -> int:
    """Delete sign-ups never confirmed within the retention period (data minimisation).

    Rows another app protects (a donor who never confirmed email) are left alone.
    """
    cutoff = timezone.now() - (
        older_than or timedelta(days=settings.SUPPORTERS_UNCONFIRMED_RETENTION_DAYS)
    )
    deleted = 0
    stale = Supporter.objects.filter(
        confirmed_at__isnull=True, erased_at__isnull=True, created_at__lt=cutoff
    ).values_list("pk", flat=True)
    for supporter_id in list(stale[:1000]):
        try:
            with transaction.atomic():
                Supporter.objects.filter(pk=supporter_id, confirmed_at__isnull=True).delete()
                deleted += 1
        except (ProtectedError, RestrictedError):
            continue
    if deleted:
        log.info("supporter.unconfirmed_pruned", count=deleted)
    return deleted


# --- consent wording --------------------------------------------------------------------------


@transaction.atomic
def consent_text_add(*, topic: str, language: str, text: str) -> ConsentText:
    """Publish new wording for a topic as the next version; earlier versions stay as they were."""
    latest = (
        ConsentText.objects.select_for_update()
        .filter(topic=topic, language=language)
        .order_by("-version")
        .first()
    )
    return ConsentText.objects.create(
        topic=topic, language=language, text=text, version=(latest.version + 1 if latest else 1)
    )


def consent_texts_ensure_defaults() -> int:
    """Version 1 of each wording where a topic has none in a language (fresh databases)."""
    created = 0
    for (topic, language), text in DEFAULT_CONSENT_TEXTS.items():
        if not ConsentText.objects.filter(topic=topic, language=language).exists():
            ConsentText.objects.create(topic=topic, language=language, version=1, text=text)
            created += 1
    return created
