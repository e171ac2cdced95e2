"""factory_boy factories for every model."""

from __future__ import annotations

import datetime

import factory
from django.contrib.auth import get_user_model

from campaign.models import (
    Campaign,
    Consent,
    ConsentText,
    Story,
    Supporter,
    SupporterAudit,
)
from donations.models import (
    AgreementState,
    AnnualStatement,
    Donation,
    DonationStatus,
    DonorNotice,
    Frequency,
    Method,
    NoticeKind,
    PeriodicGiftAgreement,
    RecurringDonation,
    RecurringState,
    StatementRun,
    StripeEvent,
    SyncCursor,
    Transaction,
    TransactionKind,
)
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


class ConsentTextFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentText
        django_get_or_create = ("topic", "language", "version")

    topic = "stories"
    language = "nl"
    version = 1
    text = factory.LazyAttribute(lambda t: f"Ja, mail mij over {t.topic} (versie {t.version}).")


class SupporterFactory(factory.django.DjangoModelFactory):
    """A confirmed supporter with every personal field filled (add consents with ConsentFactory)."""

    class Meta:
        model = Supporter

    email = factory.Sequence(lambda n: f"supporter{n}@voorbeeld.nl")
    first_name = "Noor"
    language = "nl"
    status = Supporter.Status.ACTIVE
    confirmed_at = factory.Faker("past_datetime", tzinfo=datetime.UTC)
    source_page = "/verhalen/amira/"
    source_referrer = "https://nieuws.example.org/artikel"
    utm_source = "nieuwsbrief"
    utm_medium = "email"
    utm_campaign = "survivors-launch"
    utm_term = "kinderen"
    utm_content = "knop-boven"


class ConsentFactory(factory.django.DjangoModelFactory):
    """A confirmed consent, given through the form."""

    class Meta:
        model = Consent

    supporter = factory.SubFactory(SupporterFactory)
    topic = "stories"
    text = factory.LazyAttribute(
        lambda c: ConsentTextFactory(topic=c.topic, language=c.supporter.language)
    )
    method = Consent.Method.FORM
    given_at = factory.Faker("past_datetime", tzinfo=datetime.UTC)
    ip = "192.0.2.10"
    user_agent = "Mozilla/5.0 (X11; Linux x86_64) Factory/1.0"
    confirmed_at = factory.LazyAttribute(lambda c: c.given_at)
    confirmed_ip = "192.0.2.11"
    confirmed_user_agent = "Mozilla/5.0 (X11; Linux x86_64) Factory/1.0 confirm"


class SupporterAuditFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupporterAudit

    supporter = factory.SubFactory(SupporterFactory)
    action = SupporterAudit.Action.SIGNED_UP
    actor = SupporterAudit.Actor.SUPPORTER
    method = Consent.Method.FORM
    details = factory.LazyFunction(lambda: {"topics": ["stories"], "language": "nl"})


class RecurringDonationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecurringDonation

    donor_name = "Maandgever"
    donor_email = factory.Sequence(lambda n: f"maandgever{n}@voorbeeld.nl")
    amount = 1500
    state = RecurringState.ACTIVE
    stripe_subscription = factory.Sequence(lambda n: f"sub_test_{n}")
    stripe_customer = factory.Sequence(lambda n: f"cus_test_{n}")
    mandate_reference = factory.Sequence(lambda n: f"MANDAAT-{n:06d}")


class DonationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Donation

    donor_name = "Gever"
    donor_email = factory.Sequence(lambda n: f"gever{n}@voorbeeld.nl")
    amount = 2500
    frequency = Frequency.ONE_OFF
    method = Method.IDEAL
    status = DonationStatus.PAID
    stripe_payment_intent = factory.Sequence(lambda n: f"pi_test_{n}")


class StripeEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StripeEvent

    stripe_id = factory.Sequence(lambda n: f"evt_test_{n}")
    type = "payout.paid"
    payload = factory.LazyAttribute(lambda e: {"id": e.stripe_id, "type": e.type, "data": {}})


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    kind = TransactionKind.GIFT
    donation = factory.SubFactory(DonationFactory)
    amount = 2500
    fee = 29
    net = factory.LazyAttribute(lambda t: t.amount - t.fee)
    currency = "eur"
    stripe_object = factory.Sequence(lambda n: f"py_test_{n}")
    occurred_at = factory.Faker("past_datetime", tzinfo=datetime.UTC)


class DonorNoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DonorNotice

    kind = NoticeKind.THANKS
    key = factory.Sequence(lambda n: f"thanks:test-{n}")
    donation = factory.SubFactory(DonationFactory)


class SyncCursorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncCursor
        django_get_or_create = ("name",)

    name = "stripe-events"


class StatementRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StatementRun

    year = 2025
    state = "done"


class AnnualStatementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AnnualStatement

    run = factory.SubFactory(StatementRunFactory)
    year = factory.LazyAttribute(lambda s: s.run.year)
    donor_email = factory.Sequence(lambda n: f"jaaroverzicht{n}@voorbeeld.nl")
    donor_name = "Jaargever"
    gifts = 2
    total = 5000


class PeriodicGiftAgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PeriodicGiftAgreement

    recurring = factory.SubFactory(RecurringDonationFactory)
    transaction_number = factory.Sequence(lambda n: f"STS-TEST-{n:06d}")
    yearly_amount = 18000
    start_year = 2026
    term_years = 5
    state = AgreementState.DRAFT
    charity_name = "Save the Children Nederland (test)"
    charity_rsin = "123456782"
    mandate_reference = factory.LazyAttribute(lambda a: a.recurring.mandate_reference)
    donor_name = factory.LazyAttribute(lambda a: a.recurring.donor_name)
    donor_email = factory.LazyAttribute(lambda a: a.recurring.donor_email)
    donor_address = "Dorpsstraat 1, 1234 AB Ergens"
