from __future__ import annotations

from collections.abc import Iterable

from django.db.models.functions import Lower

from campaign.models import Campaign, Consent, ConsentText, Story, StoryQuerySet, Supporter, Topic


def campaign_current() -> Campaign | None:
    """The campaign the public site shows: the newest active one."""
    return Campaign.objects.filter(is_active=True).order_by("-created_at").first()


def stories_published() -> StoryQuerySet:
    return Story.objects.published().select_related("campaign")


# --- Supporters (issue #3) ---------------------------------------------------------------------


def supporter_may_receive(supporter_id: int, topic: str) -> bool:
    """The send-time consent check: a confirmed, not withdrawn consent for this topic.

    Reads PostgreSQL on every call (no cache), so an unsubscribe committed a moment ago is seen
    by the very next send. One indexed query (consent_active_idx).
    """
    return Consent.objects.filter(
        supporter_id=supporter_id,
        topic=topic,
        confirmed_at__isnull=False,
        withdrawn_at__isnull=True,
        supporter__erased_at__isnull=True,
        supporter__email__isnull=False,
    ).exists()


def supporters_may_receive(supporter_ids: Iterable[int], topic: str) -> set[int]:
    """The same check for a batch: the ids (of those given) that may be emailed about topic."""
    return set(
        Consent.objects.filter(
            supporter_id__in=list(supporter_ids),
            topic=topic,
            confirmed_at__isnull=False,
            withdrawn_at__isnull=True,
            supporter__erased_at__isnull=True,
            supporter__email__isnull=False,
        ).values_list("supporter_id", flat=True)
    )


def supporter_by_email(email: str) -> Supporter | None:
    """Case-insensitive, through the functional unique index on lower(email)."""
    return (
        Supporter.objects.alias(email_lower=Lower("email"))
        .filter(email_lower=email.lower(), erased_at__isnull=True)
        .first()
    )


def supporter_ids_by_email(emails: Iterable[str]) -> dict[str, int]:
    """supporter_by_email for many addresses in one query: lower-cased address -> the id of
    the supporter who has it."""
    lowered = list({email.lower() for email in emails})
    if not lowered:
        return {}
    found = (
        Supporter.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in=lowered, erased_at__isnull=True)
        .values_list("email_lower", "pk")
    )
    return dict(found)


def consent_texts_current(language: str) -> dict[str, ConsentText]:
    """The newest wording of each topic in a language, in topic order; topics without a text in
    that language fall back to Dutch, the source language."""
    newest: dict[tuple[str, str], ConsentText] = {}
    for row in ConsentText.objects.filter(language__in={language, "nl"}).order_by("-version"):
        newest.setdefault((row.topic, row.language), row)
    chosen: dict[str, ConsentText] = {}
    for topic in Topic.values:
        text = newest.get((topic, language)) or newest.get((topic, "nl"))
        if text is not None:
            chosen[topic] = text
    return chosen


def consent_texts_by_ids(ids: Iterable[int]) -> list[ConsentText]:
    return list(ConsentText.objects.filter(pk__in=list(ids)))


def supporter_open_consents(supporter_id: int) -> list[Consent]:
    return list(
        Consent.objects.filter(supporter_id=supporter_id, withdrawn_at__isnull=True)
        .select_related("text")
        .order_by("topic")
    )


def supporter_for_link(token: str) -> Supporter | None:
    """The supporter a preference/unsubscribe link is for, unless erased or revoked."""
    from campaign.tokens import InvalidToken, supporter_token_read

    try:
        claim = supporter_token_read(token)
    except InvalidToken:
        return None
    supporter = Supporter.objects.filter(pk=claim.supporter_id, erased_at__isnull=True).first()
    if supporter is None or supporter.link_secret != claim.link_secret:
        return None
    return supporter
