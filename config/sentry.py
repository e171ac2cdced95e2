"""Error reports to Sentry (optional: SENTRY_DSN), from web (Django) and workers (Celery).

Nothing personal leaves: supporters' emails, names, addresses and IPs, and the signed tokens in
their links (a token is as good as the person's password for their preferences). The SDK's own
switch (`data_collection`, the successor of `send_default_pii=False`) keeps users, cookies and
IPs out; this module removes the rest before an event or breadcrumb is sent, by one rule: keep
what the code wrote, drop what the data filled in.

- Request: method, the URL without its query (token-like path segments masked) and a few
  harmless headers. No body, query string, cookies or other headers.
- Exceptions: type, module and stack trace (file, line, function, source lines). The message is
  dropped: it is formatted from data ("... Key (email)=(anna@...)", a name in an f-string).
  Local variables are not collected at all.
- Log records (events and breadcrumbs): the template of a %-style message without its values;
  structlog's event name ("outage.waiting") without its fields.
- Everything left (tags, extra, contexts, breadcrumb data) has emails, IP addresses and
  token-like words masked.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SCRUBBED = "[scrubbed]"
# Headers that say nothing about who sent the request.
KEPT_HEADERS = frozenset({"accept", "accept-language", "content-length", "content-type", "host"})
_EMAIL = re.compile(r"[^\s@<>()\[\]\"',;:/=&?]+(?:@|%40)[^\s@<>()\[\]\"',;:/=&?]+\.[A-Za-z]{2,}")
# A signed link token (`12.ab34cd56:<64 hex>`), a session id, a secret, a UUID: a long word of
# letters and digits (with the separators signing uses). Module paths and words have no digits.
_TOKEN_WORD = re.compile(r"[A-Za-z0-9_\-.:=+~%]{24,}")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6_CANDIDATE = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")


def _mask_token(match: re.Match[str]) -> str:
    word = match.group(0)
    has_digit = any(c.isdigit() for c in word)
    has_letter = any(c.isalpha() for c in word)
    return "[token]" if has_digit and has_letter else word


def _mask_ipv6(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv6Address(match.group(0))
    except ValueError:
        return match.group(0)
    return "[ip]"


def scrub_text(text: str) -> str:
    """Emails, IP addresses and token-like words in a string, masked."""
    text = _EMAIL.sub("[email]", text)
    text = _TOKEN_WORD.sub(_mask_token, text)
    text = _IPV4.sub("[ip]", text)
    return _IPV6_CANDIDATE.sub(_mask_ipv6, text)


def scrub_value(value: Any) -> Any:
    """`scrub_text` over every string in a JSON-like value (keys too)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {scrub_text(str(k)): scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


def scrub_url(url: str) -> str:
    """The URL without query, fragment or credentials; token-like path segments masked."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return scrub_text(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    headers = request.get("headers") or {}
    return {
        "method": request.get("method"),
        "url": scrub_url(str(request.get("url") or "")),
        "headers": {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS},
    }


def _log_message(record: logging.LogRecord | None, entry: Mapping[str, Any]) -> str:
    """What the code wrote: a %-template given its values separately, structlog's event name."""
    if record is not None and isinstance(record.msg, Mapping):
        return str(record.msg.get("event") or SCRUBBED)  # structlog's event dict
    if record is not None:
        return str(record.msg) if record.args else SCRUBBED
    return str(entry.get("message")) if entry.get("params") else SCRUBBED


def _scrub_exceptions(event: dict[str, Any]) -> None:
    for exception in (event.get("exception") or {}).get("values") or []:
        if exception.get("value"):
            exception["value"] = SCRUBBED
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """sentry_sdk's `before_send`: the event as it may leave the process."""
    event.pop("user", None)
    if "request" in event:
        event["request"] = _scrub_request(event["request"])
    _scrub_exceptions(event)
    record = hint.get("log_record")
    if "logentry" in event:
        event["logentry"] = {"message": _log_message(record, event["logentry"])}
    if isinstance(event.get("message"), str):
        event["message"] = SCRUBBED
    crumbs = (event.get("breadcrumbs") or {}).get("values")
    if crumbs:
        # Already scrubbed one by one (before_breadcrumb); once more for what was added later.
        event["breadcrumbs"]["values"] = [_scrub_crumb(c) for c in crumbs]
    for key in ("tags", "extra", "contexts", "transaction", "fingerprint"):
        if key in event:
            event[key] = scrub_value(event[key])
    return event


def _scrub_crumb(crumb: dict[str, Any]) -> dict[str, Any]:
    if "message" in crumb:
        crumb["message"] = scrub_text(str(crumb["message"]))
    data = crumb.get("data")
    if isinstance(data, Mapping):
        crumb["data"] = {
            k: scrub_url(v) if k == "url" and isinstance(v, str) else scrub_value(v)
            for k, v in data.items()
        }
    return crumb


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any]:
    """sentry_sdk's `before_breadcrumb`: log lines keep their template or event name only."""
    record = (hint or {}).get("log_record")
    if record is not None:
        crumb["message"] = _log_message(record, crumb)
        crumb.pop("data", None)  # the record's extra fields
    return _scrub_crumb(crumb)


def start(*, dsn: str, environment: str, release: str | None) -> None:
    """Called from the settings (config/settings/sentry.py), so gunicorn, Celery and manage.py
    all report; a prefork pool's children inherit it (the SDK restarts its sender per process)."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        # What the SDK collects at all: the structured successor of send_default_pii=False
        # (deprecated in sentry-sdk 2.7x), stricter. before_send checks the result anyway.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": sorted(KEPT_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        # Errors only: no performance traces or sessions (their URLs and attributes would need
        # the same care, and the metrics endpoint already watches the system).
        traces_sample_rate=None,
        auto_session_tracking=False,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=before_send,  # type: ignore[arg-type]
        before_breadcrumb=before_breadcrumb,
    )
