"""Start-up refuses bad configuration with one clear line naming the variable; production
refuses unsafe values, and a proper production configuration passes Django's deploy check."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Read by the checks under test: the test run's own values must not leak into a case.
_CONTROLLED = {
    "APP_ENV",
    "DEBUG",
    "SECRET_KEY",
    "SITE_URL",
    "ALLOWED_HOSTS",
    "EMAIL_URL",
    "ANYMAIL_WEBHOOK_SECRET",
    "MAILING_TRANSPORT",
    "MAILGUN_WEBHOOK_SIGNING_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "ALLOW_STRIPE_TEST_MODE",
    "TRUSTED_PROXY_COUNT",
    "CLIENT_IP_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "CHARITY_NAME",
    "CHARITY_RSIN",
    "CHARITY_ADDRESS",
    "MAILING_DKIM_KEY_FILE",
    "MAILING_DKIM_OPTOUT",
    "MAILING_POSTAL_ADDRESS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the test run sets it; a deployment must not
    "SENTRY_DSN",
}

# A real DKIM key, made per test run (production refuses to send unsigned).
_DKIM_KEY = Path(tempfile.mkdtemp(prefix="dkim-")) / "dkim.pem"
subprocess.run(
    ["openssl", "genrsa", "-out", str(_DKIM_KEY), "2048"], check=True, capture_output=True
)
_NOT_A_KEY = _DKIM_KEY.with_name("public.pem")
_NOT_A_KEY.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")

# Random, as real secrets are: generated per test run, never the project's own defaults.
PRODUCTION = {
    "APP_ENV": "production",
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(48),
    "SITE_URL": "https://example.org",
    "ALLOWED_HOSTS": "example.org",
    "EMAIL_URL": "smtp://mail.example.org:587?tls=1",
    "ANYMAIL_WEBHOOK_SECRET": "esp:" + secrets.token_urlsafe(24),
    "STRIPE_SECRET_KEY": "sk_live_" + secrets.token_urlsafe(32),
    "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(24),
    "TRUSTED_PROXY_COUNT": "1",
    "CHARITY_NAME": "Stichting Save the Children Nederland",
    "CHARITY_RSIN": "123456782",
    "CHARITY_ADDRESS": "Postbus 1, 2500 AA Den Haag",
    "MAILING_DKIM_KEY_FILE": str(_DKIM_KEY),
    "MAILING_POSTAL_ADDRESS": "Save the Children Nederland, Alexanderveld 5, 2585 DB Den Haag",
}


def _check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _CONTROLLED}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _production(**changes: str | None) -> dict[str, str]:
    """The valid production environment with some variables changed (None: left unset)."""
    env = {**PRODUCTION, **changes}
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"EMAIL_URL": "smtp://"}, "EMAIL_URL"),
        ({"SITE_URL": "127.0.0.1:8000"}, "SITE_URL"),
        ({"DB_CONN_MAX_AGE": "forever"}, "DB_CONN_MAX_AGE"),
        ({"TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT"),
        ({"CLIENT_IP_HEADER": "X Forwarded For"}, "CLIENT_IP_HEADER"),
        # An unknown APP_ENV would otherwise run with every production check off.
        *[(_production(APP_ENV=spelling), "APP_ENV") for spelling in ("Production", "prod", "")],
        (_production(SECRET_KEY=None), "SECRET_KEY"),
        (_production(SECRET_KEY="k" * 50), "SECRET_KEY"),
        (_production(SECRET_KEY="ab" * 30), "SECRET_KEY"),
        (_production(SECRET_KEY=secrets.token_urlsafe(24)), "SECRET_KEY"),  # 32 characters
        (_production(DEBUG="1"), "DEBUG"),
        (_production(SITE_URL="http://example.org"), "SITE_URL"),
        (_production(EMAIL_URL="console://"), "EMAIL_URL"),
        (_production(ANYMAIL_WEBHOOK_SECRET=None), "ANYMAIL_WEBHOOK_SECRET"),
        (_production(ANYMAIL_WEBHOOK_SECRET="esp:" + "s" * 32), "ANYMAIL_WEBHOOK_SECRET"),
        (_production(ANYMAIL_WEBHOOK_SECRET=secrets.token_urlsafe(32)), "ANYMAIL_WEBHOOK_SECRET"),
        (_production(STRIPE_SECRET_KEY=None), "STRIPE_SECRET_KEY"),
        (_production(STRIPE_SECRET_KEY="sk_test_placeholder"), "STRIPE_SECRET_KEY"),
        (_production(STRIPE_SECRET_KEY="sk_live_placeholder"), "STRIPE_SECRET_KEY"),
        (
            _production(STRIPE_SECRET_KEY="sk_test_" + secrets.token_urlsafe(32)),
            "STRIPE_SECRET_KEY",
        ),
        (_production(STRIPE_WEBHOOK_SECRET=None), "STRIPE_WEBHOOK_SECRET"),
        (_production(STRIPE_WEBHOOK_SECRET="whsec_placeholder"), "STRIPE_WEBHOOK_SECRET"),
        (_production(STRIPE_WEBHOOK_SECRET="whsec_" + "0" * 32), "STRIPE_WEBHOOK_SECRET"),
        (
            _production(ALLOW_STRIPE_TEST_MODE="1", STRIPE_SECRET_KEY="sk_test_placeholder"),
            "STRIPE_SECRET_KEY",
        ),
        (_production(STRIPE_API_BASE="http://127.0.0.1:12111"), "STRIPE_API_BASE"),
        (_production(TRUSTED_PROXY_COUNT=None), "TRUSTED_PROXY_COUNT"),
        (_production(MAILING_TRANSPORT="anymail"), "MAILGUN_WEBHOOK_SIGNING_KEY"),
        (
            _production(MAILING_TRANSPORT="anymail", MAILGUN_WEBHOOK_SIGNING_KEY="key-123"),
            "MAILGUN_WEBHOOK_SIGNING_KEY",
        ),
        (_production(SECURE_HSTS_SECONDS="a year"), "SECURE_HSTS_SECONDS"),
        (_production(CHARITY_NAME=None), "CHARITY_NAME"),
        # Unsigned mail only when said explicitly; a key that cannot sign is no key.
        (_production(MAILING_DKIM_KEY_FILE=None), "MAILING_DKIM_KEY_FILE"),
        (_production(MAILING_DKIM_KEY_FILE="/nonexistent/dkim.pem"), "MAILING_DKIM_KEY_FILE"),
        (_production(MAILING_DKIM_KEY_FILE=str(_NOT_A_KEY)), "MAILING_DKIM_KEY_FILE"),
        (_production(MAILING_DKIM_OPTOUT="maybe"), "MAILING_DKIM_OPTOUT"),
        # The footer's address: street and number and a Dutch postcode, never the default.
        (_production(MAILING_POSTAL_ADDRESS=None), "MAILING_POSTAL_ADDRESS"),
        (
            _production(MAILING_POSTAL_ADDRESS="Save the Children, 2585 DB Den Haag"),
            "MAILING_POSTAL_ADDRESS",
        ),
        (_production(MAILING_POSTAL_ADDRESS="Alexanderveld 5, Den Haag"), "MAILING_POSTAL_ADDRESS"),
        # Error reports: a DSN names a key and a project; from production only over https.
        ({"SENTRY_DSN": "sentry.example.org"}, "SENTRY_DSN"),
        ({"SENTRY_DSN": "https://sentry.example.org/42"}, "SENTRY_DSN"),
        (_production(SENTRY_DSN="http://key@sentry.example.org/42"), "SENTRY_DSN"),
        (
            _production(MAILING_POSTAL_ADDRESS="Alexanderveld 5, 2585 db Den Haag"),
            "MAILING_POSTAL_ADDRESS",
        ),
    ],
)
def test_bad_environment_stops_start_up_with_one_line(env: dict[str, str], named: str) -> None:
    result = _check(**env)

    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Configuration error: environment variable {named} "), lines[0]
    # A refused secret is named, never printed.
    for secret in ("SECRET_KEY", "ANYMAIL_WEBHOOK_SECRET", "STRIPE_SECRET_KEY"):
        if env.get(secret) and len(env[secret]) > 8:
            assert env[secret] not in lines[0]


def test_unknown_app_env_says_which_values_are_known() -> None:
    result = _check(**_production(APP_ENV="prod"))

    assert "development, test, production" in result.stderr


def test_production_with_proper_settings_passes_the_deploy_check() -> None:
    result = _check("--deploy", "--fail-level", "WARNING", **_production())

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "changes",
    [
        # A staging site: production settings against Stripe's test mode, said explicitly.
        {
            "ALLOW_STRIPE_TEST_MODE": "1",
            "STRIPE_SECRET_KEY": "sk_test_" + secrets.token_urlsafe(32),
            "STRIPE_API_BASE": "http://127.0.0.1:12111",
        },
        {"STRIPE_SECRET_KEY": "rk_live_" + secrets.token_urlsafe(32)},
        # No proxy in front is a valid answer, as long as it is given.
        {"TRUSTED_PROXY_COUNT": "0"},
        {"SENTRY_DSN": f"https://{secrets.token_hex(16)}@sentry.example.org/42"},
        {"MAILING_POSTAL_ADDRESS": "Stichting Save the Children, Postbus 82061, 2508 EB Den Haag"},
        {
            "MAILING_TRANSPORT": "anymail",
            "MAILGUN_WEBHOOK_SIGNING_KEY": secrets.token_hex(16),
            "SECURE_HSTS_PRELOAD": "0",
        },
    ],
)
def test_production_variants_that_are_allowed(changes: dict[str, str]) -> None:
    result = _check("--deploy", "--fail-level", "WARNING", **_production(**changes))

    assert result.returncode == 0, result.stderr


def test_stripe_test_mode_in_production_is_logged() -> None:
    staging = _production(
        ALLOW_STRIPE_TEST_MODE="1",
        STRIPE_SECRET_KEY="sk_test_" + secrets.token_urlsafe(32),
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
    )

    result = _check(**staging)

    assert result.returncode == 0, result.stderr
    assert "stripe.test_mode_allowed" in result.stdout + result.stderr


def test_production_without_dkim_needs_the_opt_out_and_logs_it() -> None:
    unsigned = _production(
        MAILING_DKIM_KEY_FILE=None, MAILING_DKIM_OPTOUT="1", LOG_LEVEL="INFO", LOG_FORMAT="json"
    )

    result = _check(**unsigned)

    assert result.returncode == 0, result.stderr
    assert "mailing.dkim_opted_out" in result.stdout + result.stderr


def test_production_with_a_dkim_key_logs_no_opt_out() -> None:
    result = _check(**_production(MAILING_DKIM_OPTOUT="1", LOG_LEVEL="INFO", LOG_FORMAT="json"))

    assert result.returncode == 0, result.stderr
    assert "mailing.dkim_opted_out" not in result.stdout + result.stderr
