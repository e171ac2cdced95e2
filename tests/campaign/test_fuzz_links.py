"""Fuzzing every route behind a signed link with garbage and damaged tokens (hypothesis).

A damaged token (cut short anywhere, one character changed, something appended, or plain
garbage up to 5000 characters) never gives a server error or a slow answer, and changes
nothing: no supporter, consent, audit row, outbox task, gift or click is added or altered.
The tokens start from real ones, so a damaged token is one signature away from a real person.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.emails import confirmation_url, supporter_link_token
from campaign.models import Consent, Supporter, SupporterAudit
from donations import recurring as recurring_services
from donations.models import Donation, RecurringDonation, RecurringState
from mailing.models import Click
from mailing.tracking import click_base
from tests.factories import ConsentFactory, SupporterFactory
from tests.fuzzing import FUZZ, TimedClient, row_counts
from worker.models import OutboxTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("consent_texts")]

WATCHED = (Supporter, Consent, SupporterAudit, OutboxTask, Donation, RecurringDonation, Click)

# (method, path with {t} for the token, the kind of token it takes): every public route that
# takes a signed token (and the thank-you page, which takes a gift's uuid).
ROUTES = [
    ("GET", "/u/{t}/", "supporter"),
    ("HEAD", "/u/{t}/", "supporter"),
    ("POST", "/u/{t}/", "supporter"),
    ("GET", "/aanmelden/bevestigen/{t}/", "confirm"),
    ("POST", "/aanmelden/bevestigen/{t}/", "confirm"),
    ("GET", "/en/signup/confirm/{t}/", "confirm"),
    ("GET", "/voorkeuren/{t}/", "supporter"),
    ("POST", "/voorkeuren/{t}/", "supporter"),
    ("POST", "/voorkeuren/{t}/gegevens/", "supporter"),
    ("GET", "/voorkeuren/{t}/wissen/", "supporter"),
    ("POST", "/voorkeuren/{t}/wissen/", "supporter"),
    ("GET", "/doneer/beheer/{t}/", "manage"),
    ("HEAD", "/doneer/beheer/{t}/", "manage"),
    ("POST", "/doneer/beheer/{t}/", "manage"),
    ("GET", "/en/donate/manage/{t}/", "manage"),
    ("GET", "/r/{t}/0/", "click"),
    ("HEAD", "/r/{t}/0/", "click"),
    ("GET", "/r/{t}/99999999999999999999/", "click"),
    ("GET", "/doneer/bedankt/{t}/", "gift"),
]


@pytest.fixture
def client() -> TimedClient:
    return TimedClient()


@pytest.fixture
def real_tokens(consent_texts: dict[str, Any]) -> dict[str, str]:
    """One genuine token of each kind, for a person with open consent and a monthly gift."""
    person = SupporterFactory(language="nl")
    ConsentFactory(supporter=person, topic="stories", text=consent_texts["nl"]["stories"])
    gift = RecurringDonation.objects.create(
        amount=2500, state=RecurringState.ACTIVE, stripe_subscription="sub_fuzz"
    )
    return {
        "supporter": supporter_link_token(person),
        "confirm": urlsplit(confirmation_url(person)).path.rstrip("/").rsplit("/", 1)[-1],
        "manage": recurring_services.manage_token(gift),
        "click": click_base(1, "nl").rsplit("/", 1)[-1],
        "gift": str(Donation.objects.create(amount=2500, frequency="one_off").uuid),
    }


def snapshot() -> tuple[Any, ...]:
    consents = tuple(Consent.objects.order_by("pk").values_list("withdrawn_at", "confirmed_at"))
    gifts = tuple(RecurringDonation.objects.order_by("pk").values_list("amount", "state"))
    people = tuple(Supporter.objects.order_by("pk").values_list("email", "first_name"))
    return (row_counts(*WATCHED), consents, gifts, people)


@st.composite
def damaged(draw: st.DrawFn, genuine: str) -> str:
    """A genuine token, damaged in one of the ways a mail client, a person or an attacker
    damages links; never the genuine token itself."""
    how = draw(st.sampled_from(["cut", "change", "append", "garbage", "huge"]))
    if how == "cut":
        token = genuine[: draw(st.integers(0, len(genuine) - 1))]
    elif how == "change":
        at = draw(st.integers(0, len(genuine) - 1))
        other = draw(st.characters(exclude_categories=("Cs",)).filter(lambda c: c != genuine[at]))
        token = genuine[:at] + other + genuine[at + 1 :]
    elif how == "append":
        token = genuine + draw(st.text(min_size=1, max_size=40))
    elif how == "garbage":
        token = draw(st.text(st.characters(exclude_categories=("Cs",)), max_size=200))
    else:
        token = draw(st.sampled_from(["9", "a", "%", ".", ":"])) * 5000
    return token or "x"


def send(client: TimedClient, method: str, path: str) -> Any:
    if method == "POST":
        body = {"List-Unsubscribe": "One-Click", "action": "cancel", "amount": "25"}
        return client.post(path, body)
    return client.generic(method, path)


@FUZZ
@given(data=st.data())
def test_damaged_tokens_on_every_signed_route(
    client: TimedClient, real_tokens: dict[str, str], data: st.DataObject
) -> None:
    method, template, kind = data.draw(st.sampled_from(ROUTES))
    # Mostly the route's own kind of token; sometimes another kind's (a link pasted wrongly).
    kind = data.draw(st.sampled_from([kind, kind, kind, *sorted(real_tokens)]))
    token = data.draw(damaged(real_tokens[kind]))
    before = snapshot()

    response = send(client, method, template.format(t=quote(token, safe="")))

    assert response.status_code < 500
    assert snapshot() == before


@pytest.mark.parametrize(("method", "template", "kind"), ROUTES)
def test_every_cut_of_a_genuine_token_changes_nothing(
    client: TimedClient, real_tokens: dict[str, str], method: str, template: str, kind: str
) -> None:
    """Exhaustively: the route's own kind of token, cut at every length."""
    before = snapshot()
    genuine = real_tokens[kind]

    for length in range(len(genuine)):
        token = quote(genuine[:length], safe="") or "x"
        assert send(client, method, template.format(t=token)).status_code < 500

    assert snapshot() == before
