"""Typed reads of environment variables that stop start-up with one clear line.

Settings modules call these at import time. A bad value raises ``EnvError``, a ``SystemExit``
subclass, so manage.py, gunicorn and celery all exit with just that line instead of a traceback.
"""

from __future__ import annotations

import math
import os
from collections import Counter
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


def env_int(name: str, default: int | None, *, minimum: int = 0) -> int:
    """A whole number; ``default=None`` makes the variable required (0 then counts as set)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if default is None:
            raise EnvError(name, "is required but not set")
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


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of a few known values, spelled exactly: "Production" or "prod" must not quietly mean
    something else (such as development, with every production check off)."""
    raw = os.environ.get(name)
    value = default if raw is None else raw
    # Set but empty is refused too: an unfilled deployment template must not mean the default.
    if value not in choices:
        raise EnvError(name, f"must be one of {', '.join(choices)} (exact spelling), got {value!r}")
    return value


def estimated_entropy_bits(value: str) -> float:
    """The value's length times the Shannon entropy of its own character frequencies: 0 for one
    repeated letter, ~50 for "ab" * 25, ~250 for Django's 50-character random key. It cannot
    see structure (a dictionary phrase scores high), so it catches lazy values, not clever ones."""
    length = len(value)
    return max(0.0, -sum(n * math.log2(n / length) for n in Counter(value).values()))


def secret_problem(value: str, *, min_length: int, min_bits: int) -> str | None:
    """Why a secret is too weak to use in production, or None. Never repeats the value."""
    if len(value) < min_length:
        return f"must be at least {min_length} characters long, has {len(value)}"
    bits = estimated_entropy_bits(value)
    if bits < min_bits:
        return (
            f"is too predictable (about {bits:.0f} bits of entropy, at least {min_bits} needed):"
            " use a random value, e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return None


def require_strong_secret(name: str, value: str, *, min_length: int, min_bits: int) -> None:
    problem = secret_problem(value, min_length=min_length, min_bits=min_bits)
    if problem is not None:
        raise EnvError(name, problem)
