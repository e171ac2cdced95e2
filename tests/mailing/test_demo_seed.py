"""The demo's mailing seed: the welcome sequence DESIGN.md promises, runnable twice."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from mailing.models import Segment, Sequence

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_welcome_sequence_a_donor_series_and_valid_segments() -> None:
    call_command("seed_demo")
    for _ in range(2):  # every run of the run command seeds again
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
