"""Processing fees per payment method, and the extra a donor adds to cover them."""

from __future__ import annotations

from django.conf import settings

_BASIS = 10_000  # basis points in one


def fee_for(amount: int, method: str) -> int:
    """Stripe's fee in cents for a charge of `amount` cents by `method` (rounded half up)."""
    basis_points, fixed = settings.DONATION_FEES[method]
    return (amount * basis_points + _BASIS // 2) // _BASIS + fixed


def fee_cover_extra(amount: int, method: str) -> int:
    """The smallest extra such that (amount + extra) minus its fee is at least `amount`.

    A closed formula, constant time whatever the amount (a search one cent at a time let one
    absurd amount keep a web worker busy for ever). With b basis points and f fixed cents, the
    charge T = amount + extra must keep T - floor((T*b + 5000) / 10000) >= amount + f; as
    floor(y) <= m exactly when y < m + 1, that is T * (10000 - b) >= 10000 * (amount + f) - 4999,
    and the left side only grows with T, so the smallest T is a ceiling division.
    """
    basis_points, fixed = settings.DONATION_FEES[method]
    if not 0 <= basis_points < _BASIS or fixed < 0:
        raise ValueError(f"fee for {method} must be 0 <= basis points < 10000, fixed >= 0")
    needed = _BASIS * (amount + fixed) - (_BASIS // 2 - 1)
    charge = -(-needed // (_BASIS - basis_points))  # ceiling division of integers
    return charge - amount
