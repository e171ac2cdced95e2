"""Fuzzing the donate form and the manage-monthly-gift form (hypothesis).

Never a server error (the test client re-raises), never a second of CPU (tests/fuzzing.py),
and an invalid form stores nothing: the form comes back (200) and no gift, monthly gift or
supporter row is added. A form that does go through (303 to the payment page) stored a gift
within our limits. Stripe is the fake Stripe-speaking server.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from hypothesis import given
from hypothesis import strategies as st

from campaign.models import Consent, Supporter
from devstripe.server import FakeStripe
from donations import recurring as recurring_services
from donations.models import Donation, RecurringDonation, RecurringState
from tests.donations.conftest import donate_data
from tests.fuzzing import FUZZ, TimedClient, row_counts
from worker.models import OutboxTask

pytestmark = pytest.mark.django_db

WATCHED = (Donation, RecurringDonation, Supporter, Consent, OutboxTask)

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
absurd = st.sampled_from(
    [
        "9" * 20,
        "9" * 5000,
        "1000000000000",
        "-1",
        "1e9",
        "nan",
        "\u0662\u0665",
        "\u00b2",
        "25.5e2",
        "\x00",
        "0",
        " ",
    ]
)
amounts = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(str),
    absurd,
    text,
    st.sampled_from([*(str(c) for c in django_settings.DONATION_PRESETS_CENTS), "other", ""]),
)
typed = st.one_of(
    st.integers(-(10**6), 10**25).map(str),
    st.floats().map(str),
    st.from_regex(r"€? ?[0-9]{1,7}([.,][0-9]{3})*([.,][0-9]{1,3})?(,-)?", fullmatch=True),
    absurd,
    text,
)
donate_fields = {
    "frequency": st.one_of(st.sampled_from(["one_off", "monthly"]), text),
    "amount": amounts,
    "other_amount": typed,
    "method": st.one_of(st.sampled_from(["ideal", "card", "bancontact", "sepa_debit"]), text),
    "cover_fee": st.sampled_from(["", "on", "1", "false"]),
    "name": text,
    "email": st.one_of(st.emails(), text),
    "news_opt_in": st.sampled_from(["", "on"]),
    "news_text": st.one_of(st.integers(-(10**20), 10**20).map(str), absurd, text),
    "website": st.just(""),
    "form_token": st.one_of(text, st.just("x" * 43)),
    "source": text,
    "utm_source": text,
}


@pytest.fixture
def client() -> TimedClient:
    return TimedClient()


@FUZZ
@given(data=st.fixed_dictionaries({}, optional=donate_fields))
def test_donate_form_never_errors_and_stores_nothing_when_invalid(
    client: TimedClient, fake_stripe: FakeStripe, news_wording: Any, data: dict[str, Any]
) -> None:
    before = row_counts(*WATCHED)

    response = client.post("/doneer/", data)

    assert response.status_code in {200, 303}
    if response.status_code == 200:
        assert row_counts(*WATCHED) == before
    else:
        gift = Donation.objects.order_by("-pk").first()
        assert gift is not None
        low, high = django_settings.DONATION_MIN_CENTS, django_settings.DONATION_MAX_CENTS
        assert low <= gift.amount - gift.fee_cover <= high
        assert 0 <= gift.fee_cover < gift.amount


@FUZZ
@given(amount=absurd, preset=st.one_of(absurd, st.just("other")), frequency=text)
def test_absurd_amounts_always_come_back_as_errors(
    client: TimedClient, amount: str, preset: str, frequency: str
) -> None:
    before = row_counts(*WATCHED)

    response = client.post(
        "/en/donate/",
        donate_data(amount=preset, other_amount=amount, cover_fee="on", frequency=frequency),
    )

    assert response.status_code == 200
    assert 'class="form-error"' in response.content.decode()
    assert row_counts(*WATCHED) == before


@pytest.fixture
def not_started_gift() -> RecurringDonation:
    """A monthly gift whose first payment is pending: every change but stopping it is refused
    before Stripe, so any other change to its row is a bug."""
    return RecurringDonation.objects.create(amount=2500, state=RecurringState.PENDING)


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "action": st.one_of(st.sampled_from(["amount", "pause", "resume", "cancel"]), text),
            "amount": typed,
        },
    )
)
def test_manage_form_never_errors_and_changes_nothing(
    client: TimedClient, not_started_gift: RecurringDonation, data: dict[str, Any]
) -> None:
    path = f"/doneer/beheer/{recurring_services.manage_token(not_started_gift)}/"
    before = row_counts(*WATCHED)

    response = client.post(path, data)

    assert response.status_code in {200, 303, 400, 409}
    assert row_counts(*WATCHED) == before
    not_started_gift.refresh_from_db()
    if response.status_code == 303:  # the one change a gift not started yet allows: stop it
        assert data.get("action") == "cancel"
        assert not_started_gift.state == RecurringState.CANCELLED
        not_started_gift.state = RecurringState.PENDING
        not_started_gift.save(update_fields=["state"])
    else:
        assert (not_started_gift.amount, not_started_gift.state) == (2500, RecurringState.PENDING)


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["retry", "cancelled", "source", "utm_source", "check", "x"]),
        st.one_of(text, absurd),
        max_size=4,
    )
)
def test_donate_page_links_never_error(client: TimedClient, query: dict[str, str]) -> None:
    response = client.get("/doneer/", query)

    assert response.status_code == 200
