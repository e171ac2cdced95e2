"""Across processes: two real web servers share one rate-limit budget (Redis), and the same
address signed up through both at once, in different case, ends as one supporter (PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import close_old_connections, connection, transaction
from django.db.models.functions import Lower

from campaign import services
from campaign.models import Consent, Supporter
from campaign.selectors import consent_texts_current
from campaign.services import Evidence, SignupSource
from config.embedded import free_port, port_answers
from tests.harness.processes import ROOT, celery_env
from worker.models import OutboxTask

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.usefixtures("consent_texts"),
]

# The servers trust this header as the client address, as production trusts its proxy: each
# test then counts under an address of its own, whatever earlier runs left in Redis.
IP_HEADER = "X-Real-IP"


class WebServer:
    def __init__(self, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"web-{self.port}.log"
        self._log_file = self.log.open("wb")
        environment = celery_env(
            TRUSTED_PROXY_COUNT="1", CLIENT_IP_HEADER=IP_HEADER, LOG_LEVEL="INFO", **env
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "8",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=environment,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> WebServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"web server exited:\n{self.log.read_text()[-3000:]}")
            if port_answers("127.0.0.1", self.port):
                try:
                    urllib.request.urlopen(f"{self.url}/api/openapi.json", timeout=5)
                    return self
                except OSError:
                    pass
            time.sleep(0.1)
        raise TimeoutError(f"web server not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()


@pytest.fixture
def web_servers(tmp_path: Path) -> Iterator[Any]:
    started: list[WebServer] = []

    def start(count: int, **env: str) -> list[WebServer]:
        servers = [WebServer(tmp_path, **env) for _ in range(count)]
        started.extend(servers)
        return [server.wait_ready() for server in servers]

    yield start
    for server in started:
        server.stop()


def post_signup(server: WebServer, body: dict[str, Any], ip: str) -> int:
    request = urllib.request.Request(
        f"{server.url}/api/signups",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", IP_HEADER: ip},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def body(email: str) -> dict[str, Any]:
    return {"email": email, "language": "nl", "topics": ["stories", "appeals"], "consent": True}


def fresh_ip() -> str:
    block = uuid.uuid4().hex
    return f"2001:db8:{block[:4]}:{block[4:8]}::7"


def test_rate_limits_hold_across_two_server_processes(web_servers: Any) -> None:
    first, second = web_servers(
        2, SUPPORTERS_RATE_SIGNUP_IP="4/d", SUPPORTERS_RATE_SIGNUP_EMAIL="2/d"
    )
    ip = fresh_ip()

    # Eight sign-ups from one address, alternating between the two processes.
    answers = [
        (server.port, post_signup(server, body(f"ip-{n}-{uuid.uuid4().hex[:8]}@voorbeeld.nl"), ip))
        for n, server in enumerate([first, second] * 4)
    ]

    assert [status for _, status in answers] == [202] * 4 + [429] * 4
    assert {port for port, status in answers if status == 202} == {first.port, second.port}
    assert {port for port, status in answers if status == 429} == {first.port, second.port}
    assert Supporter.objects.count() == 4  # with a limit per process there would be eight

    # The per-address limit is shared the same way (each from a new network address).
    email = f"mail-{uuid.uuid4().hex[:8]}@voorbeeld.nl"
    for server in [first, second, first, second]:
        assert post_signup(server, body(email), fresh_ip()) == 202  # same polite answer
    supporter = Supporter.objects.get(email=email)
    assert OutboxTask.objects.filter(args=[supporter.pk]).count() == 2


def test_the_same_address_at_the_same_moment_through_two_processes_is_one_supporter(
    web_servers: Any,
) -> None:
    first, second = web_servers(2)
    rounds = 12
    results: list[tuple[int, int]] = []
    emails = [f"Race-{n}-{uuid.uuid4().hex[:8]}@Voorbeeld.nl" for n in range(rounds)]

    for email in emails:
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def fire(
            server: WebServer,
            address: str,
            barrier: threading.Barrier = barrier,
            statuses: list[int] = statuses,
        ) -> None:
            barrier.wait()
            statuses.append(post_signup(server, body(address), fresh_ip()))

        threads = [
            threading.Thread(target=fire, args=(first, email)),
            threading.Thread(target=fire, args=(second, email.lower())),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        results.append((statuses[0], statuses[1]))

    assert results == [(202, 202)] * rounds
    for email in emails:
        matches = list(Supporter.objects.alias(e=Lower("email")).filter(e=email.lower()))
        assert len(matches) == 1, email
        open_topics = Consent.objects.filter(supporter=matches[0], withdrawn_at__isnull=True)
        assert sorted(open_topics.values_list("topic", flat=True)) == ["appeals", "stories"]
    races = sum(
        server.log.read_text().count("supporter.signup_race_resolved") for server in (first, second)
    )
    print(f"insert races resolved by the unique index: {races} of {rounds}")


def test_a_competing_insert_that_commits_first_is_absorbed(consent_texts: dict[str, Any]) -> None:
    """Deterministic: another connection holds an uncommitted insert of the same address, our
    sign-up blocks on the unique index, the other side commits, ours continues on that row."""
    inserted = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def competitor() -> None:
        try:
            with transaction.atomic():
                Supporter.objects.create(email="Gelijk@voorbeeld.nl", language="nl")
                inserted.set()
                release.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    other = threading.Thread(target=competitor)
    other.start()
    assert inserted.wait(30)
    outcome: list[Supporter] = []

    def ours() -> None:
        try:
            outcome.append(
                services.supporter_sign_up(
                    email="GELIJK@voorbeeld.nl",
                    first_name="",
                    language="nl",
                    texts={"stories": consent_texts_current("nl")["stories"]},
                    evidence=Evidence(method="api"),
                    source=SignupSource(),
                )
            )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    mine = threading.Thread(target=ours)
    mine.start()
    time.sleep(0.5)
    assert mine.is_alive()  # blocked on the unique index, waiting for the competitor
    release.set()
    other.join(30)
    mine.join(30)

    assert errors == []
    assert Supporter.objects.count() == 1
    supporter = Supporter.objects.get()
    assert outcome[0].pk == supporter.pk
    assert Consent.objects.filter(supporter=supporter, topic="stories").count() == 1
