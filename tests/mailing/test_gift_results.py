"""What a mailing and a sequence step brought, net of refunds and disputes, as marketing sees it
on the results pages. Gifts are made the way they really happen (our checkout, the fake
Stripe's payment, signed webhooks to the live server, the inbox); refunds and disputes are made
at the fake Stripe and reach mailing only through campaign's events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone

from backoffice.roles import MARKETING
from campaign.events import donation_reversed
from devstripe.server import FakeStripe
from donations.inbox import inbox_drain
from donations.models import Donation
from mailing import services
from mailing.models import Delivery, GiftReversal, Mailing, Message, Sequence, SequenceStep
from mailing.results import Day, funnel, gifts_per_day
from mailing.sending import deliveries_send
from tests.donations.gifts import paid_gift
from tests.factories import ConsentFactory, UserFactory
from tests.mailing.factories import (
    MailingFactory,
    SegmentFactory,
    SequenceFactory,
    SequenceStepFactory,
)
from tests.staff import verified_client

pytestmark = pytest.mark.django_db(transaction=True)

NBSP = "\xa0"


def _marketing() -> Any:
    user = UserFactory(email="redacteur@savethechildren.example")
    user.groups.add(Group.objects.get_or_create(name=MARKETING)[0])
    return verified_client(user)


def _mailing_sent_to(readers: int) -> tuple[Mailing, list[int]]:
    text = ConsentFactory(topic="stories").text
    for _ in range(readers - 1):
        ConsentFactory(topic="stories", text=text)
    mailing = MailingFactory(segment=SegmentFactory())
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()
    ids = sorted(Delivery.objects.filter(message__mailing=mailing).values_list("id", flat=True))
    deliveries_send(ids)
    return mailing, ids


def _step_sent_to_one() -> tuple[SequenceStep, int]:
    sequence = SequenceFactory(trigger=Sequence.Trigger.CONFIRMED)
    step = SequenceStepFactory(sequence=sequence, position=1, delay=timedelta(0))
    supporter = ConsentFactory(topic=sequence.topic).supporter
    services.sequences_enrol(
        trigger=Sequence.Trigger.CONFIRMED, supporter_id=supporter.pk, topics=[sequence.topic]
    )
    services.mailing_tick()
    delivery = Delivery.objects.get(message__step=step)
    deliveries_send([delivery.pk])
    return step, delivery.pk


def _gift_from(fake: FakeStripe, live_server: Any, delivery_id: int, amount: int) -> Donation:
    """A gift by someone who followed the email's donate link (its signed source token)."""
    return paid_gift(
        fake, live_server, amount=amount, source_token=services.source_token(delivery_id)
    )


def _charge(fake: FakeStripe, donation: Donation) -> str:
    return next(
        c["id"]
        for c in fake.objects("charge")
        if c["payment_intent"] == donation.stripe_payment_intent
    )


def _apply(fake: FakeStripe) -> None:
    fake.wait_for_deliveries()
    inbox_drain()


def _euros_nl(cents: int) -> str:
    """Written out here, not by our formatter: '€ 1.234,56'."""
    whole, rest = divmod(cents, 100)
    return f"€{NBSP}{whole:,}".replace(",", ".") + f",{rest:02d}"


def test_a_mailing_shows_who_gave_and_the_euros_net_of_refunds_counted_once(
    fake_stripe: FakeStripe, live_server: Any, smtp_server: Any
) -> None:
    mailing, deliveries = _mailing_sent_to(3)
    first = _gift_from(fake_stripe, live_server, deliveries[0], 4000)
    second = _gift_from(fake_stripe, live_server, deliveries[1], 2500)
    paid_gift(fake_stripe, live_server, amount=9900)  # came in without an email: not counted
    marketing = _marketing()
    page = marketing.get(f"/{settings.ADMIN_PATH}mailing/mailing/{mailing.pk}/results/")
    html = page.content.decode()
    assert 'data-stage="gave">2<' in html
    assert f'data-stage="euros">{_euros_nl(4000 + 2500)}<' in html

    # Two partial refunds of the first gift (the second event lists both refunds again), a full
    # refund of the second; then every refund event delivered twice more.
    fake_stripe.refund(_charge(fake_stripe, first), amount=1000)
    _apply(fake_stripe)
    fake_stripe.refund(_charge(fake_stripe, first), amount=500)
    _apply(fake_stripe)
    fake_stripe.refund(_charge(fake_stripe, second))
    _apply(fake_stripe)
    fake_stripe.deliver(fake_stripe.events("charge.refunded"), times=2)
    inbox_drain()

    net = 4000 - 1000 - 500 + 2500 - 2500
    assert GiftReversal.objects.count() == 3
    result = funnel(Message.objects.filter(mailing=mailing))
    assert (result.gave, result.euros_cents) == (2, net)
    html = marketing.get(
        f"/{settings.ADMIN_PATH}mailing/mailing/{mailing.pk}/results/"
    ).content.decode()
    assert 'data-stage="gave">2<' in html  # refunded gifts were still given
    assert f'data-stage="euros">{_euros_nl(net)}<' in html


def test_a_sequence_step_shows_its_gifts_net_of_a_lost_dispute_and_a_won_one_restored(
    fake_stripe: FakeStripe, live_server: Any, smtp_server: Any
) -> None:
    step, delivery_id = _step_sent_to_one()
    # Its one reader gives twice through the same email: one person who gave, two gifts.
    lost = _gift_from(fake_stripe, live_server, delivery_id, 123456)
    won = _gift_from(fake_stripe, live_server, delivery_id, 3000)
    marketing = _marketing()
    results_url = f"/{settings.ADMIN_PATH}mailing/sequence/{step.sequence.pk}/results/"

    def step_figures() -> str:
        html = marketing.get(results_url).content.decode()
        return html[html.index('data-step="1"') :]

    assert 'data-stage="gave">1<' in step_figures()
    assert f'data-stage="euros">{_euros_nl(123456 + 3000)}<' in step_figures()
    today = datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    assert gifts_per_day(Message.objects.filter(step=step)) == [Day(today, 2, 123456 + 3000)]

    lost_dispute = fake_stripe.dispute(_charge(fake_stripe, lost))
    _apply(fake_stripe)
    fake_stripe.close_dispute(lost_dispute["id"], won=False)
    won_dispute = fake_stripe.dispute(_charge(fake_stripe, won))
    _apply(fake_stripe)
    # While the second dispute is open its money is withdrawn: the net says so.
    assert funnel(Message.objects.filter(step=step)).euros_cents == 0
    fake_stripe.close_dispute(won_dispute["id"], won=True)
    _apply(fake_stripe)
    fake_stripe.deliver(fake_stripe.events(), times=1)  # everything once more
    inbox_drain()

    result = funnel(Message.objects.filter(step=step))
    assert (result.gave, result.euros_cents) == (1, 3000)
    assert gifts_per_day(Message.objects.filter(step=step)) == [Day(today, 2, 3000)]
    assert f'data-stage="euros">{_euros_nl(3000)}<' in step_figures()


def test_the_same_reversal_told_twice_is_kept_once_and_one_before_its_gift_still_counts(
    smtp_server: Any,
) -> None:
    mailing, deliveries = _mailing_sent_to(1)
    reversal = {
        "donation_id": 777,
        "donation_uuid": "7f0c1d2e-0000-4000-8000-000000000777",
        "reversal": "re_told_twice",
        "kind": "refund",
        "amount": 700,
        "currency": "eur",
    }
    for _ in range(2):  # the refund arrives before the gift it refunds, and twice
        donation_reversed.send(sender=None, **reversal)
    services.gift_record(
        donation_id=777,
        supporter_id=None,
        source=services.source_token(deliveries[0]),
        first_gift=True,
        frequency="one_off",
        amount=2000,
        currency="eur",
    )

    result = funnel(Message.objects.filter(mailing=mailing))
    assert (result.gave, result.euros_cents) == (1, 2000 - 700)
