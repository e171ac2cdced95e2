"""PostgreSQL stopped under a real gunicorn: every request that needs it answers 503 with
Retry-After in the visitor's language (JSON for the API), a sign-up is told to send again and
is stored once it does, and the log says once per interval what waited instead of a
traceback per request. Restarted, the site answers again without being restarted itself."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from config.embedded import free_port
from devstripe.webhooks import signature_header
from tests.harness.processes import celery_env
from tests.harness.waiting import wait_until
from tests.mailing.faults import (
    ROOT,
    PrivatePostgres,
    in_private_database,
    private_database_setup,
    private_postgres,
    query,
)
from worker.outage import WARN_INTERVAL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

# A staff member's session, made as logging in makes it: the back office reads it first.
_STAFF_SESSION = """
import django
django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.create_superuser("ops", "ops@voorbeeld.nl", "x" * 24)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


class Site:
    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "gunicorn.log"
        env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "1",  # one process: its warnings are the whole story
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": self.url,
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
                cwd=ROOT,
                env=celery_env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._healthy, timeout=90, interval=0.3)

    def _healthy(self) -> bool:
        assert self.process.poll() is None, self.output()[-3000:]
        try:
            return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


def _path(name: str, language: str) -> str:
    with translation.override(language):
        return reverse(name)


def _signup(browser: requests.Session, url: str, email: str) -> requests.Response:
    token = browser.cookies["csrftoken"]
    form = {"csrfmiddlewaretoken": token, "email": email, "language": "nl", "topics": "stories"}
    return browser.post(url, data=form, allow_redirects=False, timeout=30)


def _outage_lines(site: Site) -> list[str]:
    return [line for line in site.output().splitlines() if "outage.waiting" in line]


def test_every_request_gets_503_while_postgres_is_down_and_the_site_comes_back(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": postgres.url,
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DEBUG": "0",
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "INFO",
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
    }
    private_database_setup(env, supporters=0, mailing=False)
    staff_session = in_private_database(env, "-c", _STAFF_SESSION).strip()
    site = Site(tmp_path, env)
    try:
        signup_url = site.url + _path("campaign:signup", "nl")
        back_office = f"{site.url}/{settings.ADMIN_PATH}"
        api_signup = f"{site.url}/api/signups"
        visitor = requests.Session()
        assert visitor.get(signup_url, timeout=30).status_code == 200  # the form, and its cookie
        staff = requests.Session()
        staff.cookies.set("sessionid", staff_session)
        assert staff.get(back_office, timeout=30, allow_redirects=False).status_code < 500

        postgres.stop()

        # Public pages, Dutch and English.
        for path, language, words in [
            ("/", "nl", "Deze pagina is even niet bereikbaar"),
            (_path("campaign:signup", "nl"), "nl", "Deze pagina is even niet bereikbaar"),
            ("/en/", "en", "This page is unavailable for a moment"),
        ]:
            page = visitor.get(site.url + path, timeout=30)
            assert page.status_code == 503, (path, page.text[:500])
            assert page.headers["Retry-After"] == "30"
            assert f'<html lang="{language}">' in page.text
            assert words in page.text
        # The sign-up is told that it was not saved and to send it again.
        email = f"outage-{secrets.token_hex(4)}@voorbeeld.nl"
        sent = _signup(visitor, signup_url, email)
        assert (sent.status_code, sent.headers["Retry-After"]) == (503, "30")
        assert "Ga terug en verstuur het over een minuut opnieuw" in sent.text
        # The back office (its session cannot be read), in Dutch as the back office speaks.
        staff_page = staff.get(back_office, timeout=30)
        assert staff_page.status_code == 503
        assert "Deze pagina is even niet bereikbaar" in staff_page.text
        # The API answers JSON.
        body = {"email": email, "language": "en", "topics": ["stories"], "consent": True}
        api = requests.post(api_signup, json=body, headers={"Accept-Language": "en"}, timeout=30)
        assert (api.status_code, api.headers["Retry-After"]) == (503, "30")
        assert api.json() == {
            "errors": {
                "__all__": [
                    "Temporarily unavailable: nothing was saved. Please try again in a minute."
                ]
            }
        }
        # A Stripe event is not stored, so not acknowledged: Stripe sends it again later.
        event = json.dumps(
            {
                "id": "evt_outage",
                "object": "event",
                "type": "charge.refunded",
                "created": int(time.time()),
                "data": {"object": {}},
                "livemode": False,
            }
        ).encode()
        signature = signature_header(event, env["STRIPE_WEBHOOK_SECRET"])
        webhook = requests.post(
            f"{site.url}/stripe/webhook/",
            data=event,
            headers={"Stripe-Signature": signature},
            timeout=30,
        )
        assert webhook.status_code == 503
        # /healthz says the database is down and what this process saw waiting for it.
        health = requests.get(f"{site.url}/healthz", timeout=30)
        assert health.status_code == 503
        assert health.json()["down"] == ["database"]
        assert health.json()["waiting"] == {"database": {"public pages": 1}}
        # /metrics still answers, with what Redis knows: the same count.
        scrape = requests.get(
            f"{site.url}/metrics",
            headers={"Authorization": f"Bearer {env['METRICS_TOKEN']}"},
            timeout=30,
        )
        assert scrape.status_code == 200
        assert 'survivors_outage_waiting{down="database",waiting="public pages"} 1.0' in scrape.text

        # One warning so far, for the first request: not one per request.
        assert len(_outage_lines(site)) == 1
        time.sleep(WARN_INTERVAL)
        assert visitor.get(site.url + "/", timeout=30).status_code == 503
        said = _outage_lines(site)
        assert len(said) == 5, said
        for waiter in [
            "public pages: 4 requests",
            "back office: 1 requests",
            "API: 1 requests",
            "donations.webhook: 1 failures",
        ]:
            assert any(f"{waiter} waiting for the database" in line for line in said), waiter
        assert "Traceback" not in site.output()

        postgres.start()
        wait_until(lambda: visitor.get(site.url + "/", timeout=30).status_code == 200, timeout=60)
        # Sent again, the sign-up is stored: nothing was lost.
        assert _signup(visitor, signup_url, email).status_code == 302
        rows = query(
            postgres.url, "SELECT count(*) FROM campaign_supporter WHERE email = %s", (email,)
        )
        assert rows == [(1,)]
        assert staff.get(back_office, timeout=30, allow_redirects=False).status_code < 500
        assert "Traceback" not in site.output()
        # The health check finds the database again: this process's outage is over.
        assert requests.get(f"{site.url}/healthz", timeout=30).json()["status"] == "ok"
        assert re.search(r"outage\.over .*down=database", site.output())
    finally:
        site.stop()
