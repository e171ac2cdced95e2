"""config.client_address.client_ip: only the configured proxies' entries are believed."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from config.client_address import client_ip

PEER = "10.0.0.9"  # the connection's own address: the proxy, when there is one


@pytest.mark.parametrize(
    ("proxies", "header", "forwarded", "expected"),
    [
        # No proxy configured: the header is the client's own writing and is ignored.
        (0, "X-Forwarded-For", "198.51.100.7", PEER),
        # One proxy appends the peer it saw; whatever the client wrote stays to the left.
        (1, "X-Forwarded-For", "198.51.100.7", "198.51.100.7"),
        (1, "X-Forwarded-For", "203.0.113.66, 198.51.100.7", "198.51.100.7"),
        (2, "X-Forwarded-For", "203.0.113.66, 198.51.100.7, 10.1.1.1", "198.51.100.7"),
        # Fewer entries than proxies: the request did not come through them all.
        (2, "X-Forwarded-For", "198.51.100.7", PEER),
        (1, "X-Forwarded-For", None, PEER),
        # A header one proxy overwrites, and addresses with ports or in IPv6 brackets.
        (1, "X-Real-IP", "198.51.100.7", "198.51.100.7"),
        (1, "X-Forwarded-For", "198.51.100.7:51234", "198.51.100.7"),
        (1, "X-Forwarded-For", "[2001:DB8::1]:443", "2001:db8::1"),
        (1, "X-Forwarded-For", "not-an-address", None),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(
    settings: Any, proxies: int, header: str, forwarded: str | None, expected: str | None
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    settings.CLIENT_IP_META_KEY = "HTTP_" + header.upper().replace("-", "_")
    headers = {header: forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", headers=headers, REMOTE_ADDR=PEER)

    assert client_ip(request) == expected
