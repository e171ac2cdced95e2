"""The client's address, the one place it is read (settings in config/settings/proxy.py).

Behind N trusted proxies that each append the address they received from to a header
(X-Forwarded-For), the N-th entry from the right is what the outermost trusted proxy saw: the
client. Entries further left came from the client itself and could be anything, so they are
never used. With no proxy configured the header is ignored and REMOTE_ADDR is the client.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(raw: str) -> str | None:
    """A normalised IP address from "1.2.3.4", "1.2.3.4:5678" or "[2001:db8::1]:443"."""
    candidate = raw.strip()
    if candidate.startswith("["):
        candidate = candidate[1:].split("]", 1)[0]
    elif candidate.count(":") == 1:
        candidate = candidate.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the outermost trusted proxy saw it; None when unreadable."""
    hops: int = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        header = str(request.META.get(settings.CLIENT_IP_META_KEY, "") or "")
        chain = [entry for entry in header.split(",") if entry.strip()]
        # Fewer entries than proxies: the request did not come through them all (a direct
        # connection to the app server); then the peer itself is the best we know (as
        # werkzeug's ProxyFix does).
        if len(chain) >= hops:
            return _address(chain[-hops])
    return _address(str(request.META.get("REMOTE_ADDR", "") or ""))


def ratelimit_ip(request: HttpRequest) -> str:
    """For django-ratelimit's RATELIMIT_IP_META_KEY, which needs a string."""
    return client_ip(request) or "0.0.0.0"  # noqa: S104 - a bucket name, not a bind address
