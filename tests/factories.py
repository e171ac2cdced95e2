"""factory_boy factories for every model."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from campaign.models import Campaign, Story
from worker.models import OutboxTask


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        django_get_or_create = ("slug",)

    slug = "save-the-survivors"
    name_nl = "Save the Survivors"
    name_en = "Save the Survivors"
    tagline_nl = "Elk kind op de vlucht verdient bescherming."
    tagline_en = "Every child on the move deserves protection."
    intro_nl = "Een **korte** introductie."
    intro_en = "A **short** introduction."


class StoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Story

    campaign = factory.SubFactory(CampaignFactory)
    slug = factory.Sequence(lambda n: f"verhaal-{n}")
    child_pseudonym = factory.Faker("first_name")
    child_age = 14
    route_nl = "Centrale Mediterrane Route"
    route_en = "Central Mediterranean Route"
    title_nl = factory.Sequence(lambda n: f"Nederlandse titel {n}")
    title_en = factory.Sequence(lambda n: f"English title {n}")
    summary_nl = "Een korte samenvatting."
    summary_en = "A short summary."
    body_nl = "Eerste alinea.\n\nTweede alinea."
    body_en = "First paragraph.\n\nSecond paragraph."
    is_published = True
    order = factory.Sequence(lambda n: n * 10)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    is_staff = True


class OutboxTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboxTask

    task_name = "tests.probe_record"
    args = factory.LazyFunction(lambda: ["factory"])
