"""Typed reads of environment variables that stop start-up with one clear line.

Settings modules call these at import time. A bad value raises ``EnvError``, a ``SystemExit``
subclass, so manage.py, gunicorn and celery all exit with just that line instead of a traceback.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit


class EnvError(SystemExit):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"Configuration error: environment variable {name} {problem}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise EnvError(name, "is required but not set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise EnvError(name, f"must be one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EnvError(name, f"must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise EnvError(name, f"must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(
    name: str, default: str | None, *, schemes: tuple[str, ...], require_host: bool = True
) -> str:
    value = env_str(name, default)
    parts = urlsplit(value)
    if parts.scheme not in schemes or (require_host and not (parts.netloc or parts.path)):
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise EnvError(name, f"must be a URL starting with {allowed}, got {value!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise EnvError(name, f"has an invalid port: {value!r}") from None
    return value
