"""Fixtures for the mailing tests: many consenting supporters fast, a counting SMTP sink."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from campaign.models import ConsentText
from tests.factories import ConsentTextFactory
from tests.mailing.sink import SinkProcess
from tests.mailing.timed_smtp import timed_smtp  # noqa: F401  (a fixture, shared)


@pytest.fixture(autouse=True)
def fast_mailing(settings: Any) -> None:
    settings.MAILING_RETRY_BASE_SECONDS = 0
    settings.MAILING_CONNECT_RETRY_SECONDS = 0
    settings.SITE_URL = "https://www.savethechildren.example"


@pytest.fixture
def consent_text(db: None) -> ConsentText:
    return ConsentTextFactory(topic="stories", language="nl")


def supporters_bulk(count: int, *, text: ConsentText, topic: str = "stories") -> list[int]:
    """`count` active supporters with a confirmed consent, made in SQL (seconds for 20,000)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH new AS (
                INSERT INTO campaign_supporter (email, first_name, language, status, created_at,
                    updated_at, confirmed_at, pseudonym, source_page, source_referrer, utm_source,
                    utm_medium, utm_campaign, utm_term, utm_content, link_secret,
                    confirmation_nonce)
                SELECT 'bulk-' || md5(random()::text) || '-' || g || '@voorbeeld.nl',
                       'Lotte', CASE WHEN g %% 5 = 0 THEN 'en' ELSE 'nl' END, 'active', now(),
                       now(), now(), '', '', '', 'bulk', '', '', '', '',
                       substr(md5(random()::text), 1, 12), ''
                FROM generate_series(1, %s) g
                RETURNING id
            ), consents AS (
                INSERT INTO campaign_consent (supporter_id, topic, text_id, method, given_at,
                    user_agent, confirmed_at, confirmed_user_agent, withdrawn_method)
                SELECT id, %s, %s, 'import', now(), '', now(), '', '' FROM new
            )
            SELECT id FROM new ORDER BY id
            """,
            [count, topic, text.pk],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SinkProcess]:
    process = SinkProcess(tmp_path / "sink.log").start()
    yield process
    process.stop()


@pytest.fixture
def dkim_dns(settings: Any, tmp_path: Path) -> Callable[..., bytes]:
    """A fresh DKIM key configured for signing (what production reads from
    MAILING_DKIM_KEY_FILE) and a DNS lookup publishing its public half, for dkim.verify."""
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    settings.MAILING_DKIM_KEY_FILE = str(key)
    settings.MAILING_DKIM_DOMAIN = "savethechildren.example"
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"survivors._domainkey.savethechildren.example."
        return record

    return lookup
