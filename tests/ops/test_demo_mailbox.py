"""The demo mailbox: a real SMTP server process keeps every email; the browser reads them."""

from __future__ import annotations

import smtplib
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from config.embedded import free_port, port_answers
from tests.harness.processes import ROOT
from tests.harness.waiting import wait_until


@pytest.fixture
def mailbox(tmp_path: Path, settings: Any) -> Iterator[tuple[Path, int]]:
    directory, port = tmp_path / "mailbox", free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "config.demo_mailbox", "--dir", str(directory), "--port", str(port)],
        cwd=ROOT,
    )
    wait_until(lambda: port_answers("127.0.0.1", port), timeout=30)
    settings.DEMO_MAILBOX_DIR = str(directory)
    yield directory, port
    server.terminate()
    server.wait(10)


def _send(port: int, subject: str, link: str) -> None:
    message = EmailMessage()
    message["From"] = "Save the Children <verhalen@savethechildren.example>"
    message["To"] = "amira@voorbeeld.nl"
    message["Subject"] = subject
    message.set_content(f"Bevestig je aanmelding:\n{link}\n")
    message.add_alternative(
        f'<html><head></head><body><a href="{link}">Bevestig</a></body></html>', subtype="html"
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


def test_an_email_sent_over_smtp_is_readable_in_the_browser(
    mailbox: tuple[Path, int], client: Client
) -> None:
    directory, port = mailbox
    # A long link that quoted-printable would break over lines with a trailing "=".
    link = "https://127.0.0.1:8000/bevestig/" + "a1b2c3d4" * 12 + "/"
    _send(port, "Bevestig je aanmelding", link)
    wait_until(lambda: list(directory.glob("*.eml")), timeout=10)

    listing = client.get("/demo/mailbox/").content.decode()
    name = next(directory.glob("*.eml")).name
    detail = client.get(f"/demo/mailbox/{name}/").content.decode()
    page = client.get(f"/demo/mailbox/{name}/html/")

    assert "Bevestig je aanmelding" in listing
    assert f'href="{link}"' in detail  # whole, clickable: not split by the transfer encoding
    assert "amira@voorbeeld.nl" in detail
    assert page.status_code == 200
    assert f'href="{link}"' in page.content.decode()
    assert "sandbox" in page["Content-Security-Policy"]
    assert "script-src" not in page["Content-Security-Policy"]  # default-src 'none' rules


@pytest.mark.parametrize("name", ["../../etc/passwd", "x.eml", "1234567890123456-zzzzzzzzzzzz.eml"])
def test_only_kept_emails_can_be_read(mailbox: tuple[Path, int], client: Client, name: str) -> None:
    assert client.get(f"/demo/mailbox/{name}/").status_code == 404


def test_without_the_demo_mailbox_the_pages_do_not_exist(client: Client, settings: Any) -> None:
    settings.DEMO_MAILBOX_DIR = ""

    assert client.get("/demo/mailbox/").status_code == 404


def test_production_refuses_the_demo_mailbox() -> None:
    from tests.ops.test_settings import _check, _production

    result = _check(**_production(DEMO_MAILBOX_DIR="var/mailbox"))

    assert result.returncode != 0
    assert "DEMO_MAILBOX_DIR" in result.stderr.strip().splitlines()[0]


@pytest.mark.django_db
@pytest.mark.parametrize(("mailbox_dir", "shown"), [("var/mailbox", True), ("", False)])
def test_the_back_office_links_the_demo_mailbox_only_in_the_demo(
    settings: Any, mailbox_dir: str, shown: bool
) -> None:
    from tests.factories import UserFactory
    from tests.staff import verified_client

    settings.DEMO_MAILBOX_DIR = mailbox_dir
    staff = verified_client(UserFactory(is_staff=True, is_superuser=True))

    page = staff.get(f"/{settings.ADMIN_PATH}").content.decode()

    assert ('href="/demo/mailbox/"' in page) is shown
