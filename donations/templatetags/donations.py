from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import formats, timezone

from campaign import money
from donations.models import RecurringDonation
from donations.recurring import manage_url as recurring_manage_url

register = template.Library()


# The shared formatting (campaign/money.py): '€ 1.234,56' in Dutch, '€1,234.56' in English.
euros = register.filter("euros", money.euros)


@register.filter
def unix_date(timestamp: int | None) -> str:
    moment = datetime.fromtimestamp(int(timestamp or 0), tz=UTC)
    return formats.date_format(timezone.localtime(moment), "DATE_FORMAT")


@register.simple_tag
def manage_url(recurring: RecurringDonation) -> str:
    """The signed link a donor uses to change, pause or stop a monthly gift (emails)."""
    return recurring_manage_url(recurring)
