"""Money as both donations/ and mailing/ write it (campaign/money.py)."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.utils import translation

from campaign.money import euros

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("language", "cents", "shown"),
    [
        ("nl", 123456, f"€{NBSP}1.234,56"),
        ("en", 123456, "€1,234.56"),
        ("nl", 500, f"€{NBSP}5,00"),
        ("en", 500, "€5.00"),
        ("nl", 100000000, f"€{NBSP}1.000.000,00"),
        ("en", 100000000, "€1,000,000.00"),
        ("nl", -1, f"€{NBSP}-0,01"),
        ("en", -123456, "-€1,234.56"),
        ("nl", None, f"€{NBSP}0,00"),
    ],
)
def test_euros_in_each_language(language: str, cents: int | None, shown: str) -> None:
    with translation.override(language):
        assert euros(cents) == shown


def test_the_donations_template_filter_is_the_same_formatting() -> None:
    template = Template("{% load donations %}{{ cents|euros }}")
    with translation.override("nl"):
        assert template.render(Context({"cents": 123456})) == f"€{NBSP}1.234,56"
    with translation.override("en"):
        assert template.render(Context({"cents": 123456})) == "€1,234.56"
