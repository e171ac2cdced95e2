"""Start-up refuses bad configuration with one clear line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"APP_ENV", "DEBUG", "SECRET_KEY"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"EMAIL_URL": "smtp://"}, "EMAIL_URL"),
        ({"SITE_URL": "127.0.0.1:8000"}, "SITE_URL"),
        ({"DB_CONN_MAX_AGE": "forever"}, "DB_CONN_MAX_AGE"),
        ({"APP_ENV": "production", "SITE_URL": "https://example.org"}, "SECRET_KEY"),
        (
            {
                "APP_ENV": "production",
                "DEBUG": "1",
                "SECRET_KEY": "x" * 50,
                "SITE_URL": "https://example.org",
            },
            "DEBUG",
        ),
        (
            {"APP_ENV": "production", "SECRET_KEY": "x" * 50, "SITE_URL": "https://example.org"},
            "ANYMAIL_WEBHOOK_SECRET",
        ),
        (
            {
                "APP_ENV": "production",
                "SECRET_KEY": "x" * 50,
                "SITE_URL": "https://example.org",
                "ANYMAIL_WEBHOOK_SECRET": "esp:" + "s" * 32,
            },
            "CHARITY_NAME",
        ),
    ],
)
def test_bad_environment_stops_start_up_with_one_line(env: dict[str, str], named: str) -> None:
    result = _check(**env)

    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error: environment variable " + named)


def test_production_with_proper_settings_starts() -> None:
    result = _check(
        APP_ENV="production",
        SECRET_KEY="k" * 50,
        SITE_URL="https://example.org",
        DEBUG="0",
        ANYMAIL_WEBHOOK_SECRET="esp:" + "s" * 32,
        CHARITY_NAME="Stichting Save the Children Nederland",
        CHARITY_RSIN="123456782",
        CHARITY_ADDRESS="Postbus 1, 2500 AA Den Haag",
    )

    assert result.returncode == 0, result.stderr
