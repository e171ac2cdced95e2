"""Marketing's own forms look and read like the rest of the back office: unfold's widgets
(bordered inputs), options people understand, and a delay chosen rather than typed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from mailing.forms import (
    PreviewForm,
    ScheduleForm,
    SegmentForm,
    SequenceStepForm,
)
from mailing.forms import TestSendForm as SendForm  # a name pytest does not collect
from mailing.models import Mailing
from tests.mailing.factories import SequenceStepFactory

pytestmark = pytest.mark.django_db

# unfold's inputs carry a border class; Django's plain widgets carry none (0 px border).
BORDERED = "border"


def _rendered(form: object, name: str) -> str:
    return str(form[name])  # type: ignore[index]


def test_the_project_forms_use_the_themes_bordered_widgets() -> None:
    mailing = Mailing.objects.create(name="Kerst", subject_nl="Kerst")
    forms = {
        PreviewForm(): ["supporter"],
        SendForm(): ["supporter", "language"],
        ScheduleForm(mailing=mailing): ["day", "at"],
        SegmentForm(): ["signed_up_from", "signed_up_until", "sources"],
    }
    for form, names in forms.items():
        for name in names:
            html = _rendered(form, name)
            assert f'class="{BORDERED}' in html or f" {BORDERED} " in html, (name, html)


def test_options_read_as_words_not_codes_in_dutch() -> None:
    with translation.override("nl"):
        segment_html = str(SegmentForm().as_div())
        language_html = _rendered(SendForm(), "language")

    for label in ("Nederlands", "English", "nog nooit gegeven", "eenmalig gegeven"):
        assert label in segment_html
    for code in (">never<", ">one off<", ">donor news<", ">stories<"):
        assert code not in segment_html
    assert ">Nederlands<" in language_html
    assert ">English<" in language_html


def test_a_step_delay_is_chosen_from_sensible_delays_and_stored_as_a_duration() -> None:
    step = SequenceStepFactory(delay=timedelta(0))
    data = {
        "sequence": step.sequence_id,
        "position": 1,
        "story": step.story_id,
        "subject_nl": "Hoi",
        "delay": str(2 * 86400),
    }

    form = SequenceStepForm(data=data, instance=step)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["delay"] == timedelta(days=2)
    for bad in ("2 00:00:00", "-1", "abc", str(10 * 366 * 86400)):
        assert not SequenceStepForm(data={**data, "delay": bad}, instance=step).is_valid()


def test_an_unusual_stored_delay_is_shown_in_days_and_hours_and_kept() -> None:
    step = SequenceStepFactory(delay=timedelta(days=3, hours=5))

    with translation.override("nl"):
        html = _rendered(SequenceStepForm(instance=step), "delay")

    seconds = 3 * 86400 + 5 * 3600
    assert f'value="{seconds}" selected' in html
    assert "na 3 dagen en 5 uur" in html
