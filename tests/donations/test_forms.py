"""The donate form: amounts as people type them, limits, methods per frequency, fee extras."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from campaign.models import ConsentText
from donations.forms import AmountError, AmountForm, DonateForm, fee_lines, parse_euros
from tests.donations.conftest import donate_data


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("25", 2500),
        ("25,50", 2550),
        ("25.5", 2550),
        ("7,5", 750),
        ("€ 12,34", 1234),
        ("€12", 1200),
        ("25,-", 2500),
        ("1.000", 100000),  # Dutch thousands
        ("1,000", 100000),  # English thousands
        ("1.000,50", 100050),
        ("1,000.50", 100050),
        ("1 000", 100000),
    ],
)
def test_parse_euros_reads_both_conventions(typed: str, cents: int) -> None:
    assert parse_euros(typed) == cents


@pytest.mark.parametrize("typed", ["", "abc", "-5", "12.3456", "1.000.50", "2,5,0", "5e3"])
def test_parse_euros_refuses_what_it_would_have_to_guess(typed: str) -> None:
    with pytest.raises(AmountError):
        parse_euros(typed)


def form(**overrides: Any) -> DonateForm:
    return DonateForm(donate_data(**overrides))


def test_a_preset_is_a_valid_gift() -> None:
    bound = form(amount="5000", method="card", cover_fee="on")

    assert bound.is_valid(), bound.errors
    gift = bound.gift_request(language="nl")
    assert (gift.amount, gift.method, gift.cover_fee) == (5000, "card", True)


def test_other_amount_with_a_comma() -> None:
    bound = form(amount="other", other_amount="12,50")

    assert bound.is_valid(), bound.errors
    assert bound.cleaned_data["cents"] == 1250


@pytest.mark.parametrize(
    ("language", "typed", "message"),
    [
        ("nl", "2", "Het kleinste bedrag dat we kunnen aannemen is € 5,00."),
        ("en", "2", "The smallest gift we can accept is €5.00."),
        ("nl", "20000", "Wil je meer geven dan € 10.000,00?"),
        ("en", "twenty", "Enter an amount in euros, such as 25 or 12,50."),
        ("nl", "", "Kies een bedrag of vul een ander bedrag in."),
    ],
)
def test_amount_errors_are_clear_and_translated(language: str, typed: str, message: str) -> None:
    with translation.override(language):
        bound = form(amount="other", other_amount=typed)
        assert not bound.is_valid()
        assert message in " ".join(bound.errors["other_amount"]).replace("\xa0", " ")


def test_limits_follow_settings(settings: Any) -> None:
    settings.DONATION_MIN_CENTS = 1000

    assert not form(amount="other", other_amount="9,99").is_valid()
    assert form(amount="other", other_amount="10").is_valid()


def test_a_preset_and_a_different_typed_amount_is_a_question_not_a_guess() -> None:
    bound = form(amount="2500", other_amount="40")

    assert not bound.is_valid()
    assert "amount" in bound.errors
    # Typing the preset's own amount again is no contradiction.
    assert form(amount="2500", other_amount="25").is_valid()


def test_monthly_first_payment_is_ideal_card_or_sepa_only() -> None:
    assert form(frequency="monthly", method="ideal").is_valid()
    assert form(frequency="monthly", method="card").is_valid()
    assert form(frequency="monthly", method="sepa_debit").is_valid()
    refused = form(frequency="monthly", method="bancontact")
    assert not refused.is_valid()
    assert "method" in refused.errors
    assert form(frequency="one_off", method="bancontact").is_valid()


def test_sepa_direct_debit_is_for_monthly_gifts() -> None:
    with translation.override("nl"):
        refused = form(frequency="one_off", method="sepa_debit")
        assert not refused.is_valid()
        assert refused.errors["method"] == ["SEPA-incasso kan alleen bij een maandelijkse gift."]


WORDING = ConsentText(pk=7, topic="donor_news", language="nl", version=1, text="Ja, nieuws.")


def test_news_needs_an_email_address() -> None:
    def bound(**overrides: Any) -> DonateForm:
        return DonateForm(donate_data(**overrides), news_text=WORDING)

    assert not bound(news_opt_in="on").is_valid()
    assert bound(news_opt_in="on", email="lezer@voorbeeld.nl").is_valid()


def test_news_is_the_consent_wording_and_not_ticked_unless_the_donor_ticks_it() -> None:
    bound = DonateForm(donate_data(email="gever@voorbeeld.nl"), news_text=WORDING)

    assert bound.is_valid()
    assert bound.gift_request(language="nl").news_opt_in is False
    field = str(DonateForm(news_text=WORDING)["news_opt_in"])
    assert "checked" not in field
    assert DonateForm(news_text=WORDING).fields["news_opt_in"].label == "Ja, nieuws."


def test_no_consent_wording_no_news_checkbox() -> None:
    assert "news_opt_in" not in DonateForm().fields


def test_email_is_stored_the_way_sign_up_stores_it() -> None:
    bound = form(email="  Gever@VOORBEELD.nl ")

    assert bound.is_valid(), bound.errors
    assert bound.cleaned_data["email"] == "Gever@voorbeeld.nl"
    assert not form(email="gever@@voorbeeld").is_valid()


def test_attribution_is_kept_and_overlong_values_are_cut() -> None:
    bound = form(source="tok." + "x" * 600, utm_source="nieuwsbrief", utm_medium="email")

    assert bound.is_valid(), bound.errors
    gift = bound.gift_request(language="nl")
    assert len(gift.source_token) == 500
    long_tag = form(utm_campaign="c" * 300)
    assert long_tag.is_valid()
    assert long_tag.gift_request(language="nl").utm["utm_campaign"] == "c" * 100
    assert gift.utm == {"utm_source": "nieuwsbrief", "utm_medium": "email"}


def test_honeypot_is_read_even_when_the_rest_is_invalid() -> None:
    assert DonateForm({"website": "http://spam.example"}).is_bot
    assert not form().is_bot


def test_request_token_is_the_form_token_bound_to_the_gift() -> None:
    token = donate_data()["form_token"]
    first = form(form_token=token)
    again = form(form_token=token)
    changed = form(form_token=token, amount="5000")
    for bound in (first, again, changed):
        assert bound.is_valid()

    def key(bound: DonateForm) -> str:
        return bound.request_token(bound.gift_request(language="nl"))

    assert key(first) == key(again)
    assert key(first) != key(changed)


def test_a_missing_or_odd_form_token_gets_a_fresh_one() -> None:
    odd = form(form_token="'; drop table")
    assert odd.is_valid()
    assert odd.cleaned_data["form_token"] != "'; drop table"


def test_fee_lines_are_the_exact_extras_per_method() -> None:
    # iDEAL 29 ct flat; card 1.5% + 25 ct; Bancontact 1.4% + 25 ct; monthly uses SEPA (35 ct).
    extras = {line.key: line.extra for line in fee_lines(2500)}

    assert extras == {"ideal": 29, "card": 63, "bancontact": 61, "monthly": 35}


def test_manage_amount_form_uses_the_same_parsing_and_limits() -> None:
    good = AmountForm({"amount": "17,50"})
    assert good.is_valid()
    assert good.cleaned_data["amount"] == 1750
    assert not AmountForm({"amount": "1"}).is_valid()
    assert not AmountForm({"amount": ""}).is_valid()
