"""The fee-cover extra is a closed formula: the same answers as the definition, at any size."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings

from donations.fees import fee_cover_extra, fee_for


def reference_extras(basis_points: int, fixed: int, highest: int) -> Iterator[tuple[int, int]]:
    """(amount, extra) for every amount 1..highest, straight from the definition: the smallest
    charge T whose payout T - fee(T) still reaches the amount. The payout never shrinks as T
    grows, so one pointer walking up serves every amount in turn (a cent-by-cent search per
    amount would take hours over the whole range)."""

    def fee(charge: int) -> int:
        percentage = Decimal(charge * basis_points) / 10_000  # as the price list states it
        return int(percentage.quantize(Decimal(1), rounding=ROUND_HALF_UP)) + fixed

    charge = 1
    for amount in range(1, highest + 1):
        while charge - fee(charge) < amount:
            charge += 1
        yield amount, charge - amount


@pytest.mark.parametrize("method", sorted(django_settings.DONATION_FEES))
def test_the_extra_matches_the_definition_for_every_valid_amount(method: str) -> None:
    basis_points, fixed = django_settings.DONATION_FEES[method]
    highest = django_settings.DONATION_MAX_CENTS

    wrong = [
        (amount, extra, fee_cover_extra(amount, method))
        for amount, extra in reference_extras(basis_points, fixed, highest)
        if fee_cover_extra(amount, method) != extra
    ]

    assert wrong == []


@pytest.mark.parametrize(
    ("basis_points", "fixed"), [(290, 25), (0, 0), (1, 0), (5000, 1), (9999, 7), (325, 30)]
)
def test_other_price_lists_too(settings: Any, basis_points: int, fixed: int) -> None:
    settings.DONATION_FEES = {"custom": (basis_points, fixed)}
    highest = 20_000 if basis_points < 9000 else 300

    for amount, extra in reference_extras(basis_points, fixed, highest):
        assert fee_cover_extra(amount, "custom") == extra, amount
        # and the donor's gift really arrives whole
        assert amount + extra - fee_for(amount + extra, "custom") >= amount


def test_worked_examples() -> None:
    # €25 by card: 1.5% + 25 ct. Charging €25.63 costs round(38.445) + 25 = 63 ct: €25 arrives.
    assert fee_cover_extra(2500, "card") == 63
    assert fee_cover_extra(2500, "ideal") == 29
    assert fee_cover_extra(1_000_000, "card") == 15_254


def test_absurd_amounts_cost_no_time() -> None:
    started = time.perf_counter()
    for amount in (10**20, 10**400, -(10**30)):
        fee_cover_extra(amount, "card")
    assert time.perf_counter() - started < 0.05
