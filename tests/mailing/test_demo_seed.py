"""The demo's mailing seed: the welcome sequence DESIGN.md promises, runnable twice."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from campaign.models import Consent, Supporter
from mailing.models import Enrollment, Mailing, Segment, Sequence

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_welcome_sequence_a_donor_series_and_valid_segments(
    django_capture_on_commit_callbacks: Any,
) -> None:
    call_command("seed_demo")
    for _ in range(2):  # every run of the run command seeds again
        # As after a real commit: confirmations enrol in the welcome sequence.
        with django_capture_on_commit_callbacks(execute=True):
            call_command("seed_demo_mailing")

    welcome = Sequence.objects.get(slug="welkom")
    steps = list(welcome.steps.order_by("position"))
    assert welcome.trigger == Sequence.Trigger.CONFIRMED
    assert [step.position for step in steps] == [1, 2, 3]
    assert all(step.story.is_published for step in steps)
    assert Sequence.objects.get(slug="eerste-gift").trigger == Sequence.Trigger.FIRST_GIFT
    assert Segment.objects.count() == 4
    for segment in Segment.objects.all():
        segment.clean()  # raises on a filter the segment editor would refuse
    # Ten readers who signed up and confirmed (consent with evidence), each in the welcome
    # sequence, and this month's story scheduled for them once.
    readers = Supporter.objects.filter(email__startswith="demo.", email__endswith="@example.org")
    assert readers.count() == 10
    assert set(readers.values_list("status", flat=True)) == {Supporter.Status.ACTIVE}
    assert Consent.objects.filter(supporter__in=readers, confirmed_at__isnull=False).count() >= 10
    assert Enrollment.objects.filter(sequence=welcome, supporter__in=readers).count() == 10
    mailing = Mailing.objects.get()
    assert (mailing.state, mailing.segment.name) == ("scheduled", "Alle verhalenlezers")
