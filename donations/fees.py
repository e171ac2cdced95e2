"""Processing fees per payment method, and the extra a donor adds to cover them."""

from __future__ import annotations

from django.conf import settings


def fee_for(amount: int, method: str) -> int:
    """Stripe's fee in cents for a charge of `amount` cents by `method` (rounded half up)."""
    basis_points, fixed = settings.DONATION_FEES[method]
    return (amount * basis_points + 5000) // 10000 + fixed


def fee_cover_extra(amount: int, method: str) -> int:
    """The smallest extra such that (amount + extra) minus its fee is at least `amount`."""
    extra = fee_for(amount, method)
    while amount + extra - fee_for(amount + extra, method) < amount:
        extra += 1
    return extra
