from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django import template
from django.utils import formats, timezone

from donations.models import RecurringDonation
from donations.recurring import manage_url as recurring_manage_url

register = template.Library()


@register.filter
def euros(cents: int | None) -> str:
    """1234 -> '€ 12,34' in Dutch, '€12.34' in English (localised decimal separator)."""
    value = Decimal(int(cents or 0)) / 100
    return "€\u00a0" + formats.number_format(value, decimal_pos=2, use_l10n=True)


@register.filter
def unix_date(timestamp: int | None) -> str:
    moment = datetime.fromtimestamp(int(timestamp or 0), tz=UTC)
    return formats.date_format(timezone.localtime(moment), "DATE_FORMAT")


@register.simple_tag
def manage_url(recurring: RecurringDonation) -> str:
    """The signed link a donor uses to change, pause or stop a monthly gift (emails)."""
    return recurring_manage_url(recurring)
