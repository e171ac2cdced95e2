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
from donations.notices import MAX_ATTEMPTS
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


def test_finance_has_a_given_up_email_tried_again_and_a_sent_one_is_left_alone(
    make_staff: Callable[..., Any], notices: dict[str, DonorNotice]
) -> None:
    DonorNotice.objects.filter(pk=notices["failing"].pk).update(attempts=MAX_ATTEMPTS)
    client = verified_client(make_staff(FINANCE))

    response = client.post(
        admin_url("donations/donornotice/"),
        {
            "action": "send_again",
            "_selected_action": [notices["failing"].pk, notices["sent"].pk],
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "1 e-mail(s) worden zo opnieuw verstuurd." in response.content.decode()
    failing, sent = (DonorNotice.objects.get(pk=notices[k].pk) for k in ("failing", "sent"))
    assert (failing.attempts, failing.next_attempt_at, failing.sent_at) == (0, None, None)
    assert failing.last_error == ERROR  # kept until a send succeeds
    assert sent.sent_at == notices["sent"].sent_at
