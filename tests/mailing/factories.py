"""factory_boy factories for the mailing models (the campaign ones live in tests/factories.py)."""

from __future__ import annotations

from datetime import timedelta

import factory

from mailing.models import (
    Delivery,
    Enrollment,
    GiftAttribution,
    Mailing,
    Message,
    Segment,
    Sequence,
    SequenceStep,
    Suppression,
)
from tests.factories import StoryFactory, SupporterFactory


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


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    mailing = factory.SubFactory(MailingFactory)
    topic = "stories"
    content = factory.LazyFunction(dict)


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delivery

    message = factory.SubFactory(MessageFactory)
    supporter = factory.SubFactory(SupporterFactory)
    state = Delivery.State.SENT
    smtp_message_id = factory.Sequence(lambda n: f"<ledger-{n}@savethechildren.example>")


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    sequence = factory.SubFactory(SequenceFactory)
    supporter = factory.SubFactory(SupporterFactory)


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    email_hash = factory.Sequence(lambda n: f"{n:064x}")
    reason = Suppression.Reason.HARD_BOUNCE


class GiftAttributionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GiftAttribution

    donation_id = factory.Sequence(lambda n: n + 1)
    supporter = factory.SubFactory(SupporterFactory)
    frequency = "one_off"
