"""Finance sees the emails to donors that could not be sent, with why and when they are tried
next; Marketing sees none of them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from backoffice.roles import FINANCE, MARKETING
from donations.models import DonorNotice, NoticeKind
from tests.backoffice.conftest import admin_url, verified_client
from tests.factories import DonationFactory

pytestmark = pytest.mark.django_db
ERROR = "SMTPRecipientsRefused: {'gever@voorbeeld.nl': (550, b'5.1.1 no such user')}"


@pytest.fixture
def notices() -> dict[str, DonorNotice]:
    failing = DonorNotice.objects.create(
        kind=NoticeKind.THANKS,
        key="thanks:failing",
        donation=DonationFactory(),
        attempts=2,
        last_error=ERROR,
        next_attempt_at=timezone.now() + timedelta(minutes=2),
    )
    sent = DonorNotice.objects.create(
        kind=NoticeKind.THANKS,
        key="thanks:sent",
        donation=DonationFactory(),
        sent_at=timezone.now(),
    )
    return {"failing": failing, "sent": sent}


def test_finance_finds_a_failing_donor_email_and_its_error(
    make_staff: Callable[..., Any], notices: dict[str, DonorNotice]
) -> None:
    client = verified_client(make_staff(FINANCE))

    failing = client.get(admin_url("donations/donornotice/") + "?state=failing")
    sent = client.get(admin_url("donations/donornotice/") + "?state=sent")
    detail = client.get(admin_url(f"donations/donornotice/{notices['failing'].pk}/change/"))

    assert failing.status_code == sent.status_code == detail.status_code == 200
    assert "mislukt: SMTPRecipientsRefused" in failing.content.decode()
    assert "SMTPRecipientsRefused" not in sent.content.decode()
    assert "5.1.1 no such user" in detail.content.decode()
    assert b'name="_save"' not in detail.content  # read-only


def test_marketing_gets_403_on_donor_emails(
    make_staff: Callable[..., Any], notices: dict[str, DonorNotice]
) -> None:
    client = verified_client(make_staff(MARKETING))

    assert client.get(admin_url("donations/donornotice/")).status_code == 403
    change = admin_url(f"donations/donornotice/{notices['failing'].pk}/change/")
    assert client.get(change).status_code == 403
