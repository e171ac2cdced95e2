"""Sidebar visibility (unfold's `permission` callbacks). Imported by settings: no models here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def can(permission: str) -> Callable[[Any], bool]:
    """A menu item is shown only to who holds `permission`; its page checks the same (403)."""

    def check(request: Any) -> bool:
        return bool(request.user.has_perm(permission))

    check.__name__ = f"can_{permission.replace('.', '_')}"
    return check
