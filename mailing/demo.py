"""The demo's mailing side: the welcome story sequence DESIGN.md promises, a donor series and
segments staff can send to. Idempotent (keyed by slug and name), so every run can call it."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from campaign.models import Story
from mailing.models import Segment, Sequence, SequenceStep

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
    return {
        "sequences": Sequence.objects.count(),
        "segments": Segment.objects.count(),
    }
