"""The demo's mailing side: the welcome story sequence DESIGN.md promises, a donor series,
segments staff can send to, readers who signed up and confirmed (campaign's own services, so
each has a confirmation email, consent evidence and the welcome story), and a mailing to them
scheduled now (the worker sends it; mailing/demo_readers.py then reads, clicks, gives and
unsubscribes). Idempotent (keyed by slug, name and address), so every run can call it."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from campaign import services as campaign_services
from campaign.models import Story, Supporter
from campaign.selectors import consent_texts_current
from campaign.tokens import confirmation_token
from mailing import services
from mailing.models import Mailing, Segment, Sequence, SequenceStep

# (position, delay after the previous step, story slug, subject nl, subject en, preheader nl,
# preheader en): the welcome series walks a new supporter through three stories.
WELCOME_STEPS = [
    (
        1,
        timedelta(0),
        "amira-en-de-nacht-bij-de-grens",
        "Welkom! Dit is het verhaal van Amira",
        "Welcome! This is Amira's story",
        "Waarom we deze verhalen vertellen.",
        "Why we tell these stories.",
    ),
    (
        2,
        timedelta(days=3),
        "samuel-en-de-schuld-die-nooit-kleiner-werd",
        "Samuel werkte voor een schuld die steeds groeide",
        "Samuel worked off a debt that kept growing",
        "Over schuldslavernij op de route door de Sahara.",
        "On debt bondage along the Sahara route.",
    ),
    (
        3,
        timedelta(days=7),
        "idris-gaat-weer-naar-school",
        "Idris zit weer in de klas",
        "Idris is back in class",
        "Wat hulp onderweg verandert.",
        "What help on the way changes.",
    ),
]
DONOR_STEPS = [
    (
        1,
        timedelta(days=1),
        "dawit-en-het-telefoontje-naar-huis",
        "Dankzij jou: het telefoontje van Dawit",
        "Thanks to you: Dawit's phone call",
        "Wat je gift onderweg doet.",
        "What your gift does on the way.",
    ),
]
SEGMENTS = [
    ("Alle verhalenlezers", {"topics": ["stories"]}),
    ("Nog geen donateur (oproepen)", {"topics": ["appeals"], "donor_status": ["never"]}),
    ("Maandelijkse donateurs", {"topics": ["donor_news"], "donor_status": ["monthly"]}),
    ("Engelstalige lezers", {"languages": ["en"], "topics": ["stories"]}),
]
READER_DOMAIN = "example.org"  # reserved for examples: the demo mailbox keeps their mail anyway
# (first name, surname, language, topics): people who signed up on the site and confirmed.
READERS = [
    ("Sophie", "Jansen", "nl", ("stories", "appeals")),
    ("Thijs", "de Wit", "nl", ("stories",)),
    ("Noor", "El Amrani", "nl", ("stories", "appeals", "donor_news")),
    ("Ruben", "Kok", "nl", ("stories", "appeals")),
    ("Yara", "Hoekstra", "nl", ("stories",)),
    ("Olivia", "Brown", "en", ("stories", "appeals")),
    ("Jesse", "van Leeuwen", "nl", ("stories", "appeals")),
    ("Sara", "Postma", "nl", ("stories", "donor_news")),
    ("Milan", "Verbeek", "nl", ("stories",)),
    ("Hannah", "Schmidt", "en", ("stories",)),
]
DEMO_MAILING = "Verhaal van de maand: Samuel"


def _sequence(slug: str, name: str, trigger: str, *, ends_on_gift: bool, steps: list) -> None:
    sequence, _ = Sequence.objects.update_or_create(
        slug=slug,
        defaults={"name": name, "trigger": trigger, "ends_on_gift": ends_on_gift},
    )
    stories = {story.slug: story for story in Story.objects.all()}
    for position, delay, story_slug, subject_nl, subject_en, pre_nl, pre_en in steps:
        if story_slug not in stories:
            continue  # a demo whose stories were edited away keeps what it has
        SequenceStep.objects.update_or_create(
            sequence=sequence,
            position=position,
            defaults={
                "delay": delay,
                "story": stories[story_slug],
                "subject_nl": subject_nl,
                "subject_en": subject_en,
                "preheader_nl": pre_nl,
                "preheader_en": pre_en,
            },
        )


@transaction.atomic
def demo_mailing_seed() -> dict[str, int]:
    """Sequences, segments, then the readers and this month's mailing to them. The caller
    checks first that their mail stays local (mailing/demo_guard.py)."""
    counts = demo_sequences_seed()
    counts["readers"] = _readers()
    _mailing()
    return counts


@transaction.atomic
def demo_sequences_seed() -> dict[str, int]:
    """The welcome sequence, the donor series and the segments: nothing here sends mail."""
    _sequence(
        "welkom",
        "Welkom: drie verhalen",
        Sequence.Trigger.CONFIRMED,
        ends_on_gift=False,
        steps=WELCOME_STEPS,
    )
    _sequence(
        "eerste-gift",
        "Na de eerste gift",
        Sequence.Trigger.FIRST_GIFT,
        ends_on_gift=False,
        steps=DONOR_STEPS,
    )
    for name, segment_filter in SEGMENTS:
        Segment.objects.update_or_create(name=name, defaults={"filter": segment_filter})
    return {"sequences": Sequence.objects.count(), "segments": Segment.objects.count()}


def reader_email(first: str, last: str) -> str:
    return f"demo.{first}.{last}@{READER_DOMAIN}".lower().replace(" ", "")


def _readers() -> int:
    """Sign up and confirm each reader once, as the sign-up form and the confirmation button
    would (evidence says it was the demo seed)."""
    for first, last, language, topics in READERS:
        email = reader_email(first, last)
        if Supporter.objects.filter(email=email).exists():
            continue
        texts = consent_texts_current(language)
        supporter = campaign_services.supporter_sign_up(
            email=email,
            first_name=first,
            language=language,
            texts={topic: texts[topic] for topic in topics},
            evidence=campaign_services.Evidence(method="form", user_agent="demo seed"),
            source=campaign_services.SignupSource(page="/", utm_source="demo"),
        )
        campaign_services.supporter_confirm(
            token=confirmation_token(supporter_id=supporter.pk, nonce=supporter.confirmation_nonce),
            evidence=campaign_services.Evidence(method="form", user_agent="demo seed"),
        )
    return Supporter.objects.filter(email__endswith=f"@{READER_DOMAIN}").count()


def _mailing() -> None:
    """This month's story to every reader, scheduled now: the worker sends it once it runs."""
    story = Story.objects.filter(slug="samuel-en-de-schuld-die-nooit-kleiner-werd").first()
    segment = Segment.objects.filter(name="Alle verhalenlezers").first()
    if story is None or segment is None or Mailing.objects.filter(name=DEMO_MAILING).exists():
        return
    mailing = Mailing.objects.create(
        name=DEMO_MAILING,
        topic="stories",
        story=story,
        segment=segment,
        subject_nl="Samuel werkte jaren voor een schuld die nooit kleiner werd",
        subject_en="Samuel worked for years on a debt that never shrank",
        preheader_nl="Het verhaal van deze maand, en wat jij kunt doen.",
        preheader_en="This month's story, and what you can do.",
    )
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
