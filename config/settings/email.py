from typing import Any
from urllib.parse import parse_qs, urlsplit

from config.env import EnvError, env_str, env_url

from .base import PRODUCTION

# EMAIL_URL: smtp://host:port (optionally smtp://user:pass@host:port?tls=1), smtps://, or
# console:// for development. Django 6.1's MAILERS replaces the EMAIL_* settings.
EMAIL_URL = env_url(
    "EMAIL_URL", "console://", schemes=("smtp", "smtps", "console"), require_host=False
)
DEFAULT_FROM_EMAIL = env_str(
    "DEFAULT_FROM_EMAIL", "Save the Children <verhalen@savethechildren.example>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if PRODUCTION and EMAIL_URL.startswith("console:"):
    # The console backend prints confirmation links and thank-yous to a log nobody reads.
    raise EnvError("EMAIL_URL", "must be an smtp:// or smtps:// server in production")


def mailer_from_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if not parts.hostname:
        raise EnvError("EMAIL_URL", f"needs a host, got {url!r}")
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": parts.hostname,
            "port": parts.port or (465 if parts.scheme == "smtps" else 25),
            "username": parts.username or "",
            "password": parts.password or "",
            "use_ssl": parts.scheme == "smtps",
            "use_tls": parse_qs(parts.query).get("tls", ["0"])[0] in {"1", "true"},
            "timeout": 20,
        },
    }


MAILERS = {"default": mailer_from_url(EMAIL_URL)}
