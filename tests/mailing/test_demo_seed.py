"""The demo's mailing seed: the welcome sequence DESIGN.md promises, runnable twice."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campaign.models import Consent, Supporter
from config import runall
from config.settings.email import mailer_from_url
from mailing import services
from mailing.demo import DEMO_MAILING, reader_email
from mailing.demo_guard import demo_mail_refusal
from mailing.demo_readers import CLICK, GIVE, _acted
from mailing.models import (
    Click,
    Delivery,
    Enrollment,
    GiftAttribution,
    Mailing,
    Segment,
    Sequence,
)
from tests.factories import SupporterFactory
from tests.harness.processes import database_url_for_subprocess
from tests.mailing.factories import MailingFactory

ROOT = Path(__file__).resolve().parents[2]

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


# --- the demo readers are never mailed for real ---------------------------------------------

REAL_RELAY = "smtp://smtp.example.net:587"


def _nothing_written() -> None:
    assert Supporter.objects.count() == 0
    assert (Sequence.objects.count(), Segment.objects.count(), Mailing.objects.count()) == (0, 0, 0)


@pytest.mark.parametrize(
    ("mailer", "transport", "named"),
    [
        (REAL_RELAY, "smtp", "EMAIL_URL is a real mail server (smtp.example.net)"),
        # The demo mailbox's address, but marketing mail would leave through an ESP's API.
        ("smtp://127.0.0.1:2525", "anymail", "MAILING_TRANSPORT=anymail"),
    ],
)
def test_the_reader_seeds_refuse_a_real_mail_server_and_write_nothing(
    settings: Any, tmp_path: Path, mailer: str, transport: str, named: str
) -> None:
    settings.DEMO_MAILBOX_DIR = str(tmp_path / "mailbox")
    settings.MAILERS = {"default": mailer_from_url(mailer)}
    settings.MAILING_TRANSPORT = transport
    for command in ("seed_demo_mailing", "seed_demo_readers"):
        with pytest.raises(CommandError, match=re.escape(named)) as refused:
            call_command(command, stdout=io.StringIO())
        assert "not seeding the demo readers" in str(refused.value)
    _nothing_written()


def test_the_reader_seed_exits_non_zero_from_the_shell() -> None:
    env = {**os.environ, "EMAIL_URL": REAL_RELAY, "DATABASE_URL": database_url_for_subprocess()}
    env.pop("DEMO_MAILBOX_DIR", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "seed_demo_mailing"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "not seeding the demo readers: EMAIL_URL is a real mail server" in done.stderr
    _nothing_written()


def test_the_demo_mailbox_and_the_test_backends_are_let_through(
    settings: Any, tmp_path: Path
) -> None:
    settings.DEMO_MAILBOX_DIR = str(tmp_path / "mailbox")
    settings.MAILERS = {"default": mailer_from_url("smtp://127.0.0.1:2525")}
    assert demo_mail_refusal() is None
    settings.DEMO_MAILBOX_DIR = ""  # a local relay that is not the demo mailbox: real mail
    assert demo_mail_refusal() is not None
    for backend in ("locmem", "console", "dummy"):
        settings.MAILERS = {
            "default": {"BACKEND": f"django.core.mail.backends.{backend}.EmailBackend"}
        }
        assert demo_mail_refusal() is None


@pytest.mark.django_db(transaction=True)
def test_the_run_command_skips_the_readers_with_a_real_mail_server(
    settings: Any, tmp_path: Path, capfd: Any
) -> None:
    settings.BASE_DIR = tmp_path  # seed_demo keeps the demo admin's password under var/
    call_command("seed_demo", stdout=io.StringIO())
    env = {**os.environ, "EMAIL_URL": REAL_RELAY, "DATABASE_URL": database_url_for_subprocess()}
    processes = {"web": ["gunicorn"]}  # EMAIL_URL set: the run command starts no demo mailbox
    runall._seed_mailing(env, processes)
    printed = capfd.readouterr().out
    assert "[run] demo readers skipped: EMAIL_URL is set" in printed
    assert "Demo mailing ready: 2 sequences, 4 segments, no readers." in printed
    assert Sequence.objects.count() == 2
    assert Supporter.objects.count() == 0
    assert Mailing.objects.count() == 0
    # With its own demo mailbox it seeds them (the command's own check lets that through).
    assert runall._readers_skipped(env, {"mailbox": [], **processes}) is None
    assert "ESP" in str(runall._readers_skipped({"MAILING_TRANSPORT": "anymail"}, {"mailbox": []}))


def test_a_killed_readers_run_is_finished_without_a_second_gift_or_click() -> None:
    """What seed_demo_readers checks per reader before acting again (mailing's own rows)."""
    message = services.message_current(MailingFactory(name=DEMO_MAILING))
    address = reader_email("Sophie", "Jansen")
    row = Delivery.objects.create(
        message=message, supporter=SupporterFactory(email=address), state="sent"
    )
    other = services.message_current(MailingFactory(name="Een andere mailing"))
    clicked_elsewhere = Delivery.objects.create(
        message=other,
        supporter=SupporterFactory(email=reader_email("Thijs", "de Wit")),
        state="sent",
    )
    Click.objects.create(delivery=clicked_elsewhere, link=0, url="https://www.example.org/")
    mailing = Mailing.objects.get(name=DEMO_MAILING)
    assert not _acted(mailing, address, GIVE)
    assert not _acted(mailing, address, CLICK)
    assert not _acted(mailing, reader_email("Thijs", "de Wit"), CLICK)  # not this mailing's
    Click.objects.create(delivery=row, link=1, url="https://www.example.org/doneer/")
    assert _acted(mailing, address, CLICK)
    assert not _acted(mailing, address, GIVE)  # clicked the button, never paid: give again
    GiftAttribution.objects.create(donation_id=91001, amount=2500, delivery=row)
    assert _acted(mailing, address, GIVE)
