"""The donor's way back to a monthly gift: the manage link in the thank-you and pre-debit emails."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from devstripe.server import FakeStripe
from donations.models import DonorNotice, NoticeKind, RecurringDonation
from donations.notices import notices_send
from tests.donations.conftest import donate_data, run_inbox
from tests.harness.smtp import SmtpServer

pytestmark = pytest.mark.django_db


def _give(client: Client, fake: FakeStripe, path: str, **fields: str) -> None:
    client.post(path, donate_data(email="gever@voorbeeld.nl", name="Sanne", **fields))
    session = fake.objects("checkout.session")[-1]
    fake.complete_checkout(session["id"], outcome="paid")
    run_inbox(fake)


def _sent_text(smtp: SmtpServer, kind: NoticeKind) -> str:
    notice = DonorNotice.objects.get(kind=kind)
    assert notices_send() >= 1
    notice.refresh_from_db()
    assert notice.sent_at is not None
    message = smtp.wait_for(1)[-1].message
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_monthly_thank_you_email_links_to_the_manage_page(
    client: Client, fake_stripe: FakeStripe, smtp_server: SmtpServer, settings: Any
) -> None:
    settings.SITE_URL = "http://testserver"
    _give(client, fake_stripe, "/en/donate/", frequency="monthly", method="ideal")

    text = _sent_text(smtp_server, NoticeKind.THANKS)

    link = re.search(r"http://testserver(/en/donate/manage/\S+/)", text)
    assert link is not None, text
    page = client.get(link.group(1))
    assert page.status_code == 200
    assert "Pause my monthly gift" in page.content.decode()


def test_one_off_thank_you_email_has_no_manage_link(
    client: Client, fake_stripe: FakeStripe, smtp_server: SmtpServer
) -> None:
    _give(client, fake_stripe, "/doneer/", method="ideal")

    text = _sent_text(smtp_server, NoticeKind.THANKS)

    assert "Dank je wel voor je gift van" in text
    assert "/beheer/" not in text


def test_pre_debit_email_links_to_the_manage_page_in_the_donors_language(
    client: Client, fake_stripe: FakeStripe, smtp_server: SmtpServer, settings: Any
) -> None:
    settings.SITE_URL = "http://testserver"
    _give(client, fake_stripe, "/doneer/", frequency="monthly", method="card")
    gift = RecurringDonation.objects.get()
    assert gift.stripe_subscription
    fake_stripe.announce_upcoming(gift.stripe_subscription)
    run_inbox(fake_stripe)

    text = _sent_text(smtp_server, NoticeKind.PRE_DEBIT)

    assert "Gebruik deze persoonlijke link" in text
    link = re.search(r"http://testserver(/doneer/beheer/\S+/)", text)
    assert link is not None, text
    assert client.get(link.group(1)).status_code == 200
