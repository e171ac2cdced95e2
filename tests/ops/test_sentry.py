"""Error reports (config/sentry.py): a real web server and a real Celery worker send their errors
to a Sentry-speaking HTTP endpoint of this test, with a supporter's email, name, link token and IP
in the request and in the exception message; none of it is in the bytes that arrive."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.parse
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection

from campaign.emails import supporter_link_token
from campaign.models import Supporter
from campaign.services import consent_texts_ensure_defaults
from config.embedded import free_port, port_answers
from tests.factories import ConsentFactory, SupporterFactory
from tests.harness.processes import ROOT, celery_env
from tests.harness.waiting import wait_until
from worker.outbox import enqueue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLIENT_IP = "203.0.113.77"


class SentryInbox:
    """Sentry's envelope endpoint (POST /api/<project>/envelope/), keeping each body as sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                elif encoding not in ("", "identity"):
                    raise AssertionError(f"unexpected Content-Encoding {encoding}")
                assert self.path.endswith("/envelope/"), self.path
                inbox.bodies.append(raw)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.dsn = f"http://publickey@127.0.0.1:{self.server.server_port}/1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [
            json.loads(payload)
            for body in list(self.bodies)
            for header, payload in envelope_items(body)
            if header.get("type") == "event"
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def envelope_items(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """Sentry's envelope: a JSON header line, then per item a JSON header line and its payload
    (`length` bytes when the header says so, else up to the next newline)."""
    _envelope_header, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


@pytest.fixture
def inbox() -> Iterator[SentryInbox]:
    server = SentryInbox()
    yield server
    server.stop()


@pytest.fixture
def person() -> Supporter:
    consent_texts_ensure_defaults()  # transactional tests flush the seeded wording
    supporter = SupporterFactory(
        email="wilhelmina.zwaanswijk@voorbeeld.nl", first_name="Wilhelmina", language="nl"
    )
    ConsentFactory(supporter=supporter, topic="stories")
    return supporter


def personal_values(supporter: Supporter) -> list[str]:
    token = supporter_link_token(supporter)
    return [
        supporter.email,
        urllib.parse.quote(supporter.email),
        "zwaanswijk",
        supporter.first_name,
        "Geertruida",  # the new first name the form sends
        token,
        token.rpartition(":")[2],  # the signature alone
        CLIENT_IP,
    ]


def assert_nothing_personal(bodies: list[bytes], values: list[str]) -> None:
    everything = b"\n".join(bodies).lower()
    for value in values:
        assert value.lower().encode() not in everything, f"{value!r} reached Sentry"


@pytest.fixture
def failing_consents(person: Supporter) -> Iterator[None]:
    """The database refuses a new consent with the person's details in its error, as a
    constraint's DETAIL line does: the error text carries data the code never wrote."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION sentry_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'consent refused for % <%> from %',
                    (SELECT first_name FROM campaign_supporter WHERE id = NEW.supporter_id),
                    (SELECT email FROM campaign_supporter WHERE id = NEW.supporter_id),
                    NEW.ip;
            END $$;
            CREATE TRIGGER sentry_test_refuse BEFORE INSERT ON campaign_consent
                FOR EACH ROW EXECUTE FUNCTION sentry_test_refuse();
            """
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER IF EXISTS sentry_test_refuse ON campaign_consent;"
                "DROP FUNCTION IF EXISTS sentry_test_refuse()"
            )


@pytest.fixture
def web_server(inbox: SentryInbox, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "web.log"
    env = celery_env(SENTRY_DSN=inbox.dsn, TRUSTED_PROXY_COUNT="1", LOG_LEVEL="INFO")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", "4"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, log.read_text()
        if not port_answers("127.0.0.1", port):
            return False
        try:  # the first request loads the application: wait for it outside the test
            requests.get(f"{url}/healthz", timeout=60)
        except requests.RequestException:
            return False
        return True

    try:
        wait_until(answers, timeout=180, interval=0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


@pytest.mark.usefixtures("failing_consents")
def test_an_error_in_a_view_reaches_sentry_without_personal_data(
    web_server: str, inbox: SentryInbox, person: Supporter
) -> None:
    token = supporter_link_token(person)
    # Some mail tools append the recipient to every link: the address is in the query too.
    url = f"{web_server}/voorkeuren/{token}/?utm_source=mail&email={person.email}"
    session = requests.Session()
    page = session.get(url, headers={"X-Forwarded-For": CLIENT_IP}, timeout=60)
    assert page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    texts = re.search(r'name="consent_texts" value="([^"]+)"', page.text)
    assert csrf
    assert texts
    session.cookies.set("last_email", person.email)

    answer = session.post(
        url,
        data={
            "csrfmiddlewaretoken": csrf.group(1),
            "action": "save",
            "first_name": "Geertruida",
            "language": "nl",
            "topics": ["stories", "appeals"],  # appeals is new: its consent row is refused
            "consent_texts": texts.group(1),
            "email": person.email,
        },
        headers={"X-Forwarded-For": CLIENT_IP, "Referer": url},
        allow_redirects=False,
        timeout=60,
    )

    assert answer.status_code == 500
    events = wait_until(inbox.events, timeout=30)
    event = events[0]
    assert "RaiseException" in [value["type"] for value in event["exception"]["values"]]
    assert event["request"]["method"] == "POST"
    assert event["request"]["url"].endswith("/voorkeuren/[token]/")
    assert_nothing_personal(inbox.bodies, [*personal_values(person), csrf.group(1)])


def test_an_error_in_a_celery_task_reaches_sentry_without_personal_data(
    celery_worker: Any, inbox: SentryInbox, person: Supporter
) -> None:
    celery_worker(SENTRY_DSN=inbox.dsn)

    enqueue("tests.fail_with_personal_data", person.pk)

    events = wait_until(
        lambda: [e for e in inbox.events() if "exception" in e and e.get("transaction")],
        timeout=60,
    )
    event = events[0]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["transaction"] == "tests.fail_with_personal_data"
    crumbs = [c.get("message") for c in event.get("breadcrumbs", {}).get("values", [])]
    assert "reaching %s at %s" in crumbs  # the log line's template, without its values
    assert_nothing_personal(inbox.bodies, personal_values(person))
