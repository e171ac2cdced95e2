"""The sunset rule (issue 14): a campaign mailing leaves out people with no click, gift,
confirmation or preference change in MAILING_SUNSET_DAYS, says how many before it is scheduled,
counts them as skipped in the results, and includes them when staff ask (re-engagement).
Sequences staff start for a segment are not affected (DESIGN.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from backoffice.roles import MARKETING
from campaign.models import ConsentText
from mailing import services
from mailing.models import Delivery, Mailing
from mailing.segments import SegmentFilter
from tests.factories import UserFactory
from tests.mailing.factories import (
    MailingFactory,
    SegmentFactory,
    SequenceFactory,
    SequenceStepFactory,
)
from tests.mailing.sunset_people import LEFT_OUT, sunset_people
from tests.staff import verified_client

pytestmark = pytest.mark.django_db


def _expected_left_out(people: dict[str, Any]) -> set[int]:
    return {p.pk for name, p in people.items() if name.startswith("stale-") or name in LEFT_OUT}


def _fan_out(mailing: Mailing) -> dict[int, tuple[str, str]]:
    services.mailing_tick(now=timezone.now() + timedelta(days=2))
    return {
        d.supporter_id: (d.state, d.reason)
        for d in Delivery.objects.filter(message__mailing=mailing)
    }


def test_a_mailing_leaves_out_the_inactive_says_so_first_and_counts_them(
    consent_text: ConsentText, settings: Any
) -> None:
    people = sunset_people(consent_text)
    left_out = _expected_left_out(people)
    assert len(left_out) == 4
    user = UserFactory()
    user.groups.add(Group.objects.get(name=MARKETING))
    staff = verified_client(user)
    mailing = MailingFactory(segment=SegmentFactory())
    base = f"/{settings.ADMIN_PATH}mailing/mailing/{mailing.pk}"

    page = staff.get(f"{base}/schedule/").content.decode()
    assert 'id="recipient-count"' in page
    assert 'id="sunset-notice"' in page
    assert "De sunsetregel slaat er 4 over" in page  # the back office speaks Dutch

    day = (timezone.localdate() + timedelta(days=1)).isoformat()
    answer = staff.post(f"{base}/schedule/", {"day": day, "at": "09:00"})
    assert answer.status_code == 302
    rows = _fan_out(mailing)
    assert {sid for sid, (state, _) in rows.items() if state == "queued"} == {
        p.pk for p in people.values()
    } - left_out
    assert {sid for sid, row in rows.items() if row == ("skipped", "sunset")} == left_out

    results = staff.get(f"{base}/results/").content.decode()
    assert 'data-reason="sunset"' in results
    assert "<span data-count>4</span>" in results


def test_a_re_engagement_mailing_includes_them_and_sequences_ignore_the_rule(
    consent_text: ConsentText, settings: Any
) -> None:
    people = sunset_people(consent_text)
    mailing = MailingFactory(segment=SegmentFactory())
    services.mailing_schedule(
        mailing_id=mailing.pk, send_at=timezone.now() + timedelta(hours=1), include_sunset=True
    )
    rows = _fan_out(mailing)
    assert set(rows.values()) == {("queued", "")}
    assert set(rows) == {p.pk for p in people.values()}

    # Staff enrol a segment in a sequence: everyone with consent, active or not.
    sequence = SequenceFactory(trigger="manual")
    step = SequenceStepFactory(sequence=sequence, position=1, delay=timedelta(0))
    services.sequence_enrol_segment(sequence_id=sequence.pk, segment=SegmentFilter())
    services.mailing_tick()
    assert Delivery.objects.filter(message__step=step, state="queued").count() == len(people)


def test_the_rule_is_off_with_zero_days(consent_text: ConsentText, settings: Any) -> None:
    settings.MAILING_SUNSET_DAYS = 0
    people = sunset_people(consent_text)
    mailing = MailingFactory(segment=SegmentFactory())
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    assert set(_fan_out(mailing).values()) == {("queued", "")}
    assert len(people) == 8
