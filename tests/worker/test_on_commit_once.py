"""on_commit_once: a callback asked for many times in one transaction (a drain batch books many
gifts, each waking the notice drain) runs once after the commit, and still runs when the
savepoint of its first registration rolled back."""

from __future__ import annotations

import pytest
from django.db import transaction

from worker.wake import on_commit_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_asked_three_times_in_a_transaction_it_runs_once_after_the_commit() -> None:
    ran: list[str] = []

    def wake() -> None:
        ran.append("wake")

    with transaction.atomic():
        for _ in range(3):
            on_commit_once(wake)
        assert ran == []
    assert ran == ["wake"]


def test_a_registration_rolled_back_with_its_savepoint_does_not_hide_a_later_one() -> None:
    ran: list[str] = []

    def wake() -> None:
        ran.append("wake")

    with transaction.atomic():
        try:
            with transaction.atomic():
                on_commit_once(wake)
                raise RuntimeError("this gift failed")
        except RuntimeError:
            pass
        on_commit_once(wake)
    assert ran == ["wake"]


def test_a_rolled_back_transaction_runs_nothing_and_outside_one_it_runs_at_once() -> None:
    ran: list[str] = []

    def wake() -> None:
        ran.append("wake")

    try:
        with transaction.atomic():
            on_commit_once(wake)
            raise RuntimeError("batch failed")
    except RuntimeError:
        pass
    assert ran == []
    on_commit_once(wake)
    on_commit_once(wake)
    assert ran == ["wake", "wake"]
