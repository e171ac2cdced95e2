from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import redis as redis_lib
from django.conf import settings

from config.embedded import EmbeddedServer, start_redis
from tests.harness import processes
from tests.harness.smtp import SmtpServer

# Fuzzing (hypothesis, schemathesis): CI runs a fixed, reproducible set of examples, so a run
# that lands is the run that was checked; elsewhere every run explores new ones. A failure found
# while exploring prints its reproduction, and then belongs in a test of its own.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis.settings.register_profile("explore", print_blob=True)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") else "explore")

# The fake Stripe server's fixtures (fake_stripe, webhook_target) for every test package.
pytest_plugins = ["devstripe.fixtures"]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine has no internet: background fetches would only fail noisily.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None) -> Iterator[None]:
    """pytest-django's, plus: behind the harness's PgBouncer (TEST_DB_POOLER), close its server
    connections to the test database first, or dropping the database fails."""
    yield
    if os.environ.get("TEST_DB_SERVER_URL"):
        from django.db import connection

        from tests.harness.pgbouncer import release_database
        from tests.harness.processes import database_url_for_subprocess

        url = database_url_for_subprocess()
        connection.close()
        release_database(url)


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def clean_broker(redis_client: redis_lib.Redis) -> None:
    """Each xdist worker owns one Redis database: empty it so no earlier test's task runs."""
    redis_client.flushdb()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def celery_worker(clean_broker: None, log_dir: Path) -> Iterator[Any]:
    """Start real `celery worker` subprocesses; each is stopped (or killed) after the test."""
    started: list[processes.CeleryProcess] = []

    def start(**env: str) -> processes.CeleryProcess:
        worker = processes.start_worker(log_dir, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def celery_beat(clean_broker: None, log_dir: Path) -> Iterator[Any]:
    started: list[processes.CeleryProcess] = []

    def start(**env: str) -> processes.CeleryProcess:
        beat = processes.start_beat(log_dir, **env)
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.kill()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A Redis server of this test's own, which the test may stop and start again."""
    server = start_redis(tmp_path / "redis", persist=False)
    yield server
    server.stop()


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpServer]:
    from config.settings.email import mailer_from_url

    server = SmtpServer().start()
    settings.MAILERS = {"default": mailer_from_url(server.url)}
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            # The user-data dir is fresh for each launch (Playwright makes a temporary one).
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def artifacts_dir() -> Path:
    """Kept after the run (CI artefacts): screenshots a person can look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def scratch_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sts-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _language_as_at_start() -> None:
    """Each test starts in the language a fresh process has (settings.LANGUAGE_CODE). The test
    client answers in this thread, and a request leaves its language active (LocaleMiddleware
    and the staff pages activate, nothing deactivates): a later test's reverse() then gave an
    /en/ URL, on whichever worker the tests happened to share."""
    from django.utils import translation

    translation.deactivate()
