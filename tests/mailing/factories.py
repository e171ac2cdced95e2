"""factory_boy factories for the mailing models (the campaign ones live in tests/factories.py)."""

from __future__ import annotations

from datetime import timedelta

import factory

from mailing.models import Mailing, Segment, Sequence, SequenceStep
from tests.factories import StoryFactory


class SequenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sequence

    name = factory.Sequence(lambda n: f"Welkomstreeks {n}")
    slug = factory.Sequence(lambda n: f"welkom-{n}")
    trigger = Sequence.Trigger.CONFIRMED
    topic = "stories"
    ends_on_gift = True


class SequenceStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SequenceStep

    sequence = factory.SubFactory(SequenceFactory)
    position = factory.Sequence(lambda n: n + 1)
    delay = timedelta(days=2)
    story = factory.SubFactory(StoryFactory)
    subject_nl = factory.Sequence(lambda n: f"Het verhaal van deze week ({n})")
    subject_en = factory.Sequence(lambda n: f"This week's story ({n})")
    preheader_nl = "Een kind op de vlucht vertelt."
    preheader_en = "A child on the move tells their story."


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = "Iedereen"
    filter = factory.LazyFunction(dict)


class MailingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mailing

    name = factory.Sequence(lambda n: f"Mailing {n}")
    topic = "stories"
    story = factory.SubFactory(StoryFactory)
    subject_nl = "Samira vond een veilige plek"
    subject_en = "Samira found a safe place"
    preheader_nl = "Lees hoe zij weer naar school gaat."
    preheader_en = "Read how she is back at school."
