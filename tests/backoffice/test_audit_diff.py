"""backoffice.audit_diff against auditlog's own model_instance_diff, on every audited model of
ours: the same changes for a row inserted and for two rows compared on any choice of fields."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from auditlog.diff import model_instance_diff
from auditlog.registry import auditlog
from django.contrib.auth.models import Group
from django.db.models import Model
from django.utils import timezone, translation

from backoffice.audit_diff import created_diff, updated_diff
from donations.models import (
    Donation,
    Frequency,
    PayoutLine,
    StripeCampaign,
    Transaction,
    TransactionKind,
    label,
)
from tests import factories
from tests.mailing import factories as mail

pytestmark = pytest.mark.django_db

_FACTORIES: dict[str, Callable[[int], Model]] = {
    "donations.Donation": lambda i: factories.DonationFactory(
        donor_name=f"Sara {i}", status=["pending", "paid"][i % 2], method="ideal"
    ),
    "donations.RecurringDonation": lambda i: factories.RecurringDonationFactory(),
    "donations.Transaction": lambda i: factories.TransactionFactory(amount=1000 + i),
    "donations.PayoutLine": lambda i: PayoutLine.objects.create(
        payout=f"po_{i}",
        balance_transaction=f"txn_{i}",
        type="charge",
        amount=500 * (i + 1),
        net=480 * (i + 1),
        currency="eur",
        source=f"ch_{i}" if i else "",
    ),
    "donations.StripeCampaign": lambda i: StripeCampaign.objects.create(
        stripe_id=f"plink_{i}", campaign=factories.CampaignFactory()
    ),
    "donations.StatementRun": lambda i: factories.StatementRunFactory(year=2020 + i),
    "donations.PeriodicGiftAgreement": lambda i: factories.PeriodicGiftAgreementFactory(),
    "mailing.Sequence": lambda i: mail.SequenceFactory(),
    "mailing.SequenceStep": lambda i: mail.SequenceStepFactory(),
    "mailing.Mailing": lambda i: mail.MailingFactory(),
    "mailing.Segment": lambda i: mail.SegmentFactory(),
    "mailing.Suppression": lambda i: mail.SuppressionFactory(),
    "campaign.Supporter": lambda i: factories.SupporterFactory(utm_source=["", "tv"][i % 2]),
    "campaign.Consent": lambda i: factories.ConsentFactory(),
    "campaign.ConsentText": lambda i: factories.ConsentTextFactory(version=i + 1),
    "campaign.Story": lambda i: factories.StoryFactory(),
    "campaign.Campaign": lambda i: factories.CampaignFactory(slug=f"campagne-{i}"),
    "auth.User": lambda i: factories.UserFactory(last_login=timezone.now() if i else None),
    "auth.Group": lambda i: Group.objects.create(name=f"groep {i}"),
}


def test_every_audited_model_of_ours_is_compared() -> None:
    ours = {
        m._meta.label
        for m in auditlog.get_models()
        if m._meta.app_label in {"donations", "campaign", "mailing", "auth"}
    }
    assert ours == set(_FACTORIES)


@pytest.mark.parametrize("label", sorted(_FACTORIES))
def test_an_insert_has_auditlogs_changes(label: str) -> None:
    for i in range(2):
        row = _FACTORIES[label](i)
        expected = model_instance_diff(None, row)
        assert expected  # a row inserted has fields with a value: the comparison means something
        assert created_diff(row) == expected


@pytest.mark.parametrize("label", sorted(_FACTORIES))
def test_an_update_has_auditlogs_changes_on_any_fields(label: str) -> None:
    make = _FACTORIES[label]
    first, second = make(0), make(1)
    model = type(first)
    old = model.objects.get(pk=first.pk)  # as loaded: the old side of the drain's saves
    names = [f.name for f in model._meta.concrete_fields]
    attnames = [f.attname for f in model._meta.concrete_fields if f.attname != f.name]
    choices: list[Any] = [None, [], names, attnames, ["updated_at"], ["no_such_field"]]
    pick = random.Random(label)
    choices += [pick.sample(names + attnames, k=pick.randint(1, len(names))) for _ in range(12)]
    differing = 0
    for fields in choices:
        expected = model_instance_diff(old, second, fields_to_check=fields)
        assert updated_diff(old, second, fields) == expected, fields
        differing += bool(expected)
    assert differing >= 3  # the two rows differ: most choices of fields find changes


@pytest.mark.parametrize("language", ["nl", "en"])
def test_rows_are_named_with_the_labels_get_display_gives(language: str) -> None:
    # An entry's object_repr names its row: donations.models.label stands in for
    # get_FOO_display there.
    with translation.override(language):
        for frequency in [*Frequency.values, "weekly"]:
            donation = Donation(frequency=frequency)
            assert label(Frequency, frequency) == donation.get_frequency_display()
        for kind in [*TransactionKind.values, ""]:
            row = Transaction(kind=kind)
            assert label(TransactionKind, kind) == row.get_kind_display()
        assert label(Frequency, "monthly") == {"nl": "maandelijks", "en": "monthly"}[language]
