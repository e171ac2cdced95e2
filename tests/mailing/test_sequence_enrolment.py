"""A sequence's results say who is in it: how many people, at which step they wait, who left
and why, and when the next email goes (Europe/Amsterdam)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from backoffice.roles import MARKETING
from mailing.models import Enrollment
from mailing.results import sequence_enrolment
from tests.factories import SupporterFactory, UserFactory
from tests.mailing.factories import SequenceFactory, SequenceStepFactory
from tests.staff import verified_client

pytestmark = pytest.mark.django_db

# 2026-07-01 06:45 UTC is 08:45 in Amsterdam (summer time).
FIRST_DUE = datetime(2026, 7, 1, 6, 45, tzinfo=UTC)
LATER = datetime(2026, 7, 3, 9, 0, tzinfo=UTC)
EXITED = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)


def _enrol(sequence: Any, *, at: int, due: datetime | None, reason: str = "") -> None:
    Enrollment.objects.create(
        sequence=sequence,
        supporter=SupporterFactory(),
        next_position=at,
        due_at=due,
        exited_at=EXITED if reason else None,
        exit_reason=reason,
    )


@pytest.fixture
def plan() -> Any:
    sequence = SequenceFactory()
    for position in (1, 2, 3):
        SequenceStepFactory(sequence=sequence, position=position)
    for _ in range(3):
        _enrol(sequence, at=1, due=LATER)
    _enrol(sequence, at=2, due=FIRST_DUE)
    _enrol(sequence, at=3, due=LATER)
    _enrol(sequence, at=4, due=None, reason=Enrollment.ExitReason.COMPLETED)
    _enrol(sequence, at=2, due=None, reason=Enrollment.ExitReason.GIFT)
    _enrol(sequence, at=2, due=None, reason=Enrollment.ExitReason.GIFT)
    _enrol(sequence, at=1, due=None, reason=Enrollment.ExitReason.UNSUBSCRIBED)
    # Someone in another sequence, due earlier, counts nowhere here.
    _enrol(SequenceFactory(), at=1, due=datetime(2026, 6, 1, tzinfo=UTC))
    return sequence


def test_counts_and_the_next_step_time(plan: Any) -> None:
    summary = sequence_enrolment(plan.pk)
    assert summary.active == 5
    assert summary.waiting == {1: 3, 2: 1, 3: 1}
    assert summary.exited == {"completed": 1, "gift": 2, "unsubscribed": 1}
    assert summary.next_due == FIRST_DUE


def test_the_results_page_shows_them_in_amsterdam_time(plan: Any) -> None:
    user = UserFactory()
    user.groups.add(Group.objects.get(name=MARKETING))
    page = (
        verified_client(user)
        .get(f"/{settings.ADMIN_PATH}mailing/sequence/{plan.pk}/results/")
        .content.decode()
    )
    box = page.split('id="enrolment"')[1].split("</section>")[0]
    assert "Er zitten nu 5 mensen in." in box
    assert "Volgende e-mail: 01-07-2026 08:45 (Amsterdam)" in box
    waiting = re.findall(r'<tr data-step="(\d)"><td[^>]*>Stap \d</td><td[^>]*>(\d+)</td>', box)
    assert waiting == [("1", "3"), ("2", "1"), ("3", "1")]
    assert re.search(r"<td[^>]*>heeft gegeven</td><td[^>]*>2</td>", box)
    assert re.search(r"<td[^>]*>alle stappen verstuurd</td><td[^>]*>1</td>", box)


def test_an_empty_sequence_says_nobody_is_waiting() -> None:
    sequence = SequenceStepFactory().sequence
    user = UserFactory()
    user.groups.add(Group.objects.get(name=MARKETING))
    page = verified_client(user).get(
        f"/{settings.ADMIN_PATH}mailing/sequence/{sequence.pk}/results/"
    )
    body = page.content.decode()
    assert "Er zitten nu 0 mensen in." in body
    assert "Er staat geen e-mail klaar." in body
    assert "Nog niemand." in body
