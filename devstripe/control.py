"""A client for a running devstripe's control API (`POST /_test/<name>`): what a donor does
on the checkout page, a bank does days later, or the account's clock does. Development only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class ControlError(RuntimeError):
    pass


def control(api_base: str, name: str, /, **arguments: Any) -> Any:
    """Call one scenario (server.HTTP_CONTROLS) with keyword arguments; returns its JSON."""
    if not api_base.startswith("http://127.0.0.1:"):
        raise ControlError(f"devstripe runs on 127.0.0.1 only, not at {api_base!r}")
    request = urllib.request.Request(
        f"{api_base}/_test/{name}",
        data=json.dumps(arguments).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ControlError(f"{name}: {exc.code} {exc.read().decode(errors='replace')}") from exc
