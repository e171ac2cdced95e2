"""Segments: a small, validated filter that becomes one SQL query over supporters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

LANGUAGE_VALUES = ("nl", "en")
TOPIC_VALUES = ("stories", "appeals", "donor_news")
# "lapsed" needs recurring-gift events the donations side does not send yet.
DONOR_STATUS_VALUES = ("never", "one_off", "monthly")


def _strings(data: dict[str, Any], key: str, allowed: tuple[str, ...] | None) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    if allowed is not None and (unknown := set(value) - set(allowed)):
        raise ValueError(f"{key}: unknown {sorted(unknown)}; allowed: {list(allowed)}")
    return list(value)


def _date(data: dict[str, Any], key: str) -> date | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{key} must be a date YYYY-MM-DD") from exc


@dataclass(frozen=True)
class SegmentFilter:
    """Every part is optional; an empty list or None means "anyone"."""

    languages: list[str] = field(default_factory=list)
    # The supporter holds a confirmed, open consent for every one of these topics.
    topics: list[str] = field(default_factory=list)
    donor_status: list[str] = field(default_factory=list)
    signed_up_from: date | None = None
    signed_up_until: date | None = None
    # Matches the sign-up's utm_source.
    sources: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SegmentFilter:
        data = data or {}
        if not isinstance(data, dict):
            raise ValueError("a segment filter is a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        if unknown := set(data) - known:
            raise ValueError(f"unknown filter keys {sorted(unknown)}")
        parsed = cls(
            languages=_strings(data, "languages", LANGUAGE_VALUES),
            topics=_strings(data, "topics", TOPIC_VALUES),
            donor_status=_strings(data, "donor_status", DONOR_STATUS_VALUES),
            signed_up_from=_date(data, "signed_up_from"),
            signed_up_until=_date(data, "signed_up_until"),
            sources=_strings(data, "sources", None),
        )
        if (
            parsed.signed_up_from
            and parsed.signed_up_until
            and parsed.signed_up_from > parsed.signed_up_until
        ):
            raise ValueError("signed_up_from is after signed_up_until")
        return parsed

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("signed_up_from", "signed_up_until"):
            data[key] = data[key].isoformat() if data[key] else None
        return data
