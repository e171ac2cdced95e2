"""Behind a real reverse proxy: nginx terminates TLS (a certificate made here) in front of
gunicorn running the app with production settings and TRUSTED_PROXY_COUNT=1.

Clients are told apart the only way nginx can: by the address they connect from (each binds
its own loopback address, 127.x.y.z). One client using up its sign-up budget leaves the others
theirs, an X-Forwarded-For a client writes itself is not believed, and production's HTTPS
settings (redirect, HSTS, the health check's exemption) hold as seen through the proxy.
"""

from __future__ import annotations

import http.client
import json
import secrets
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from campaign.models import Consent
from config.embedded import free_port
from tests.harness.processes import ROOT, celery_env
from tests.harness.tls_proxy import certificate, start_nginx, stop_group

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.usefixtures("consent_texts"),
    pytest.mark.skipif(shutil.which("nginx") is None, reason="needs Debian's nginx"),
]

SIGNUPS_PER_ADDRESS = 3


@dataclass
class Site:
    https_port: int
    http_port: int
    tls: ssl.SSLContext

    def request(
        self,
        method: str,
        path: str,
        *,
        source: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        tls: bool = True,
    ) -> http.client.HTTPResponse:
        connection: http.client.HTTPConnection
        if tls:
            connection = http.client.HTTPSConnection(
                "127.0.0.1",
                self.https_port,
                context=self.tls,
                source_address=(source, 0),
                timeout=30,
            )
        else:
            connection = http.client.HTTPConnection(
                "127.0.0.1", self.http_port, source_address=(source, 0), timeout=30
            )
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    def sign_up(self, source: str, *, forwarded_for: str | None = None) -> int:
        email = f"proxy-{uuid.uuid4().hex[:12]}@voorbeeld.nl"
        body = {"email": email, "language": "nl", "topics": ["stories"], "consent": True}
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        return self.request(
            "POST", "/api/signups", source=source, body=body, headers=headers
        ).status


def fresh_address() -> str:
    """A loopback address of its own (all of 127.0.0.0/8 reaches the host on Linux)."""
    a, b, c = secrets.token_bytes(3)
    return f"127.{a}.{b}.{max(c, 2)}"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    # One server per test: the app caches the current consent texts, which each test recreates.
    cert = certificate(tmp_path)
    app_port, https_port, http_port = free_port(), free_port(), free_port()
    env = celery_env(
        APP_ENV="production",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(48),
        SITE_URL=f"https://127.0.0.1:{https_port}",
        ALLOWED_HOSTS="127.0.0.1",
        EMAIL_URL="smtp://127.0.0.1:2525",
        ANYMAIL_WEBHOOK_SECRET="esp:" + secrets.token_urlsafe(24),
        STRIPE_SECRET_KEY="sk_live_" + secrets.token_urlsafe(32),
        STRIPE_WEBHOOK_SECRET="whsec_" + secrets.token_urlsafe(24),
        STRIPE_API_BASE="",
        TRUSTED_PROXY_COUNT="1",
        CHARITY_NAME="Stichting Save the Children Nederland",
        CHARITY_RSIN="123456782",
        CHARITY_ADDRESS="Postbus 1, 2500 AA Den Haag",
        MAILING_DKIM_OPTOUT="1",
        MAILING_POSTAL_ADDRESS="Postbus 1, 2500 AA Den Haag",
        SUPPORTERS_RATE_SIGNUP_IP=f"{SIGNUPS_PER_ADDRESS}/h",
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    app_log = (tmp_path / "gunicorn.log").open("wb")
    app = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{app_port}",
         "--workers", "1", "--threads", "4", "--timeout", "60"],
        cwd=ROOT, env=env, stdout=app_log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    proxy = start_nginx(tmp_path, https_port=https_port, http_port=http_port, app_port=app_port)
    site = Site(https_port, http_port, ssl.create_default_context(cafile=str(cert)))
    try:
        deadline = time.monotonic() + 90
        while True:
            for process, log in ((app, tmp_path / "gunicorn.log"), (proxy, tmp_path / "error.log")):
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited:\n{log.read_text()[-3000:]}")
            try:
                if site.request("GET", "/api/openapi.json", source="127.0.0.1").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError((tmp_path / "gunicorn.log").read_text()[-3000:])
            time.sleep(0.3)
        yield site
    finally:
        stop_group(proxy)
        stop_group(app)
        app_log.close()


def test_one_clients_used_up_budget_leaves_the_others_theirs(site: Site) -> None:
    first, second = fresh_address(), fresh_address()

    first_answers = [site.sign_up(first) for _ in range(SIGNUPS_PER_ADDRESS + 1)]
    second_answers = [site.sign_up(second) for _ in range(SIGNUPS_PER_ADDRESS)]

    assert first_answers == [202] * SIGNUPS_PER_ADDRESS + [429]
    assert second_answers == [202] * SIGNUPS_PER_ADDRESS
    # The consent evidence names the address each person really connected from.
    recorded = set(Consent.objects.values_list("ip", flat=True))
    assert recorded == {first, second}


def test_a_forwarded_for_header_written_by_the_client_is_not_believed(site: Site) -> None:
    exhausted, borrower, shapeshifter = fresh_address(), fresh_address(), fresh_address()
    for _ in range(SIGNUPS_PER_ADDRESS + 1):
        site.sign_up(exhausted)

    # Claiming to be the blocked address does not put a client in its bucket...
    assert site.sign_up(borrower, forwarded_for=exhausted) == 202
    # ...and claiming a new address each time does not buy a new budget.
    answers = [
        site.sign_up(shapeshifter, forwarded_for=fresh_address())
        for _ in range(SIGNUPS_PER_ADDRESS + 2)
    ]
    assert answers == [202] * SIGNUPS_PER_ADDRESS + [429] * 2
    assert set(Consent.objects.values_list("ip", flat=True)) == {
        exhausted,
        borrower,
        shapeshifter,
    }


def test_production_https_settings_as_seen_through_the_proxy(site: Site) -> None:
    client = fresh_address()

    over_tls = site.request("GET", "/api/openapi.json", source=client)
    plain = site.request("GET", "/api/openapi.json", source=client, tls=False)
    health = site.request("GET", "/healthz", source=client, tls=False)

    assert over_tls.status == 200
    assert over_tls.headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert plain.status == 301
    assert plain.headers["Location"].startswith("https://")
    # Probes call the health check over plain http inside the network: answered, not redirected.
    assert health.status == 200
