"""Decode Stripe's form encoding (`a[b][0][c]=v`) and check parameters the way Stripe does."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from devstripe.errors import invalid, missing_param, unknown_param

Params = dict[str, Any]
_BRACKETS = re.compile(r"\[([^\]]*)\]")


def decode(raw: str) -> Params:
    """`line_items[0][price_data][unit_amount]=2500` -> {"line_items": [{"price_data": ...}]}."""
    root: Params = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head, bracket, rest = key.partition("[")
        segments = [head, *_BRACKETS.findall(bracket + rest)] if bracket else [head]
        node = root
        for index, segment in enumerate(segments):
            name = segment if segment != "" else str(len(node))  # `a[]=x` appends
            if index == len(segments) - 1:
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise invalid(f"Invalid object for {key}", param=key)
                node = child
    return _listify(root, in_metadata=False)


def _listify(node: Any, *, in_metadata: bool) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value, in_metadata=key == "metadata") for key, value in node.items()}
    if converted and not in_metadata and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def check_known(params: Params, allowed: Iterable[str], prefix: str = "") -> None:
    allowed_set = set(allowed)
    for key in params:
        if key not in allowed_set:
            raise unknown_param(f"{prefix}[{key}]" if prefix else key)


def require(params: Params, name: str, prefix: str = "") -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise missing_param(f"{prefix}[{name}]" if prefix else name)
    return value


def as_int(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(
            f"Invalid integer: {value}", param=param, code="parameter_invalid_integer"
        ) from None


def as_bool(value: Any, param: str) -> bool:
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise invalid(f"Invalid boolean: {value}", param=param)


def as_dict(value: Any, param: str) -> Params:
    if isinstance(value, dict):
        return value
    raise invalid("Invalid object", param=param)


def as_list(value: Any, param: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise invalid("Invalid array", param=param)


def one_of(value: Any, choices: Iterable[str], param: str) -> str:
    options = list(choices)
    if value not in options:
        listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
        raise invalid(f"Invalid {param}: must be one of {listed}", param=param)
    return str(value)


def metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    if value == "":
        return {}
    data = as_dict(value, param)
    for key, item in data.items():
        if not isinstance(item, str):
            raise invalid("Invalid string", param=f"{param}[{key}]")
        if len(key) > 40:
            raise invalid("Metadata keys can have at most 40 characters.", f"{param}[{key}]")
        if len(item) > 500:
            raise invalid("Metadata values can have at most 500 characters.", f"{param}[{key}]")
    if len(data) > 50:
        raise invalid("Metadata can have at most 50 keys.", param)
    return dict(data)


def merge_metadata(current: dict[str, str], update: Any, param: str = "metadata") -> dict[str, str]:
    """Stripe's update semantics: keys merge, "" deletes a key, metadata="" clears all."""
    if update == "":
        return {}
    merged = dict(current)
    for key, value in metadata(update, param).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def expand_paths(params: Params) -> list[str]:
    value = params.get("expand", [])
    paths = as_list(value, "expand")
    for index, path in enumerate(paths):
        if not isinstance(path, str):
            raise invalid("Invalid string", param=f"expand[{index}]")
    return paths
