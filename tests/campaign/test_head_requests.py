"""HEAD is answered wherever GET is (link checkers and monitors send it), with no body and no
side effect: a HEAD of the unsubscribe link unsubscribes nobody."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from campaign.emails import supporter_link_token
from campaign.models import Consent, Supporter, SupporterAudit
from campaign.selectors import supporter_may_receive
from donations import recurring as recurring_services
from donations.models import Donation, RecurringDonation, RecurringState
from tests.factories import ConsentFactory, SupporterFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consent_texts")]


@pytest.fixture
def member(consent_texts: dict[str, Any]) -> Supporter:
    person = SupporterFactory(language="nl")
    ConsentFactory(supporter=person, topic="stories", text=consent_texts["nl"]["stories"])
    return person


def head_and_get(client: Client, path: str) -> tuple[Any, Any]:
    return client.head(path), client.get(path)


def test_head_of_the_unsubscribe_link_unsubscribes_nobody(member: Supporter) -> None:
    path = f"/u/{supporter_link_token(member)}/"
    mail_scanner = Client(enforce_csrf_checks=True)

    head, get = head_and_get(mail_scanner, path)

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]
    assert supporter_may_receive(member.pk, "stories")
    assert not Consent.objects.filter(withdrawn_at__isnull=False).exists()
    assert not SupporterAudit.objects.exists()


def test_head_of_a_forged_unsubscribe_link_is_404(client: Client) -> None:
    assert client.head("/u/forged/").status_code == 404


@pytest.mark.parametrize("path", ["/doneer/", "/en/donate/", "/doneer/?retry=x&cancelled=-1"])
def test_head_of_the_donate_page(client: Client, path: str) -> None:
    head, get = head_and_get(client, path)

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert not Donation.objects.exists()


@pytest.mark.parametrize("language", ["nl", "en"])
def test_head_of_the_manage_page_changes_nothing(client: Client, language: str) -> None:
    gift = RecurringDonation.objects.create(
        amount=2500, state=RecurringState.ACTIVE, stripe_subscription="sub_head"
    )
    token = recurring_services.manage_token(gift)
    path = f"/en/donate/manage/{token}/" if language == "en" else f"/doneer/beheer/{token}/"

    head, get = head_and_get(client, path)

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    gift.refresh_from_db()
    assert (gift.amount, gift.state) == (2500, RecurringState.ACTIVE)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/en/",
        "/aanmelden/",
        "/en/signup/",
        "/aanmelden/bedankt/",
        "/aanmelden/opnieuw/",
        "/en/signup/send-again/",
        "/doneer/",
        "/en/donate/",
    ],
)
def test_head_answers_like_get_on_the_public_pages(client: Client, path: str) -> None:
    head, get = head_and_get(client, path)

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert not Supporter.objects.exists()


def test_head_of_the_confirmation_and_preference_pages_changes_nothing(
    client: Client, consent_texts: dict[str, Any]
) -> None:
    from campaign.emails import confirmation_url, preferences_url

    pending = SupporterFactory(
        language="nl",
        status=Supporter.Status.PENDING,
        confirmed_at=None,
        confirmation_nonce="0123456789abcdef",
    )
    ConsentFactory(
        supporter=pending, topic="stories", text=consent_texts["nl"]["stories"], confirmed_at=None
    )
    paths = [
        confirmation_url(pending).split("://", 1)[1].split("/", 1)[1],
        preferences_url(pending).split("://", 1)[1].split("/", 1)[1],
    ]

    for path in paths:
        head, get = head_and_get(client, f"/{path}")
        assert head.status_code == get.status_code, path
        assert head.status_code != 405
        assert head.content == b""
    pending.refresh_from_db()
    assert pending.status == Supporter.Status.PENDING
    assert not Consent.objects.filter(confirmed_at__isnull=False, supporter=pending).exists()


@pytest.mark.parametrize("purpose", ["export", "erase"])
def test_head_of_a_data_link_spends_nothing(
    member: Supporter, client: Client, purpose: str
) -> None:
    from campaign.emails import data_link_url
    from campaign.tokens import data_link_token

    token = data_link_token(
        purpose=purpose,
        supporter_id=member.pk,
        link_secret=member.link_secret,
        nonce="ab12cd34ef567890",
    )
    path = "/" + data_link_url(supporter=member, purpose=purpose, token=token).split("/", 3)[3]

    head = client.head(path)
    get = client.get(path)  # still usable: the HEAD spent nothing

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    member.refresh_from_db()
    assert member.email  # not erased
    assert not SupporterAudit.objects.filter(supporter=member).exists()
