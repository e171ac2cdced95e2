"""The donate form and the monthly-gift amount form.

Amounts arrive as euros typed by people ("25", "25,50", "€ 1.000", "7.5") and leave as integer
cents; every limit is checked here, so Stripe never sees an amount we would refuse.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from campaign.forms import SOURCE_LIMITS
from campaign.models import ConsentText, Topic
from campaign.selectors import consent_texts_current
from campaign.validation import normalise_email, reject_unsafe_characters
from donations.checkout import MONTHLY_METHODS, ONE_OFF_METHODS, GiftRequest, gift_fee_method
from donations.fees import fee_cover_extra
from donations.models import Frequency, Method
from donations.templatetags.donations import euros

OTHER = "other"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# secrets.token_urlsafe(32) is 43 characters of this alphabet.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
# ASCII digits only: int() reads other scripts' digits ("٢٥") and str.isdigit() accepts "²",
# which int() refuses; people type amounts with 0-9, anything else is asked again.
_PLAIN = re.compile(r"([0-9]+)(?:[.,]([0-9]{1,2}))?")
_GROUPED = re.compile(r"([0-9]{1,3}(?:([.,])[0-9]{3})+)(?:([.,])([0-9]{1,2}))?")
# Longer than any amount we accept, however it is written ("€ 10.000,00"): longer text is
# refused before any parsing, so its cost never depends on what was sent.
_TYPED_MAX = 32
# A database id as the form posts it back (the consent wording's version).
_ID = re.compile(r"[0-9]{1,9}")


class AmountError(ValueError):
    pass


_INVALID_AMOUNT = _("Enter an amount in euros, such as 25 or 12,50.")
# Over-long text gets the same plain message, never a count of the characters sent.
_TYPED_ERRORS = {"max_length": _INVALID_AMOUNT}


def parse_euros(text: str) -> int:
    """Euros as typed, in either convention, to cents. Raise AmountError when unclear.

    A separator followed by one or two digits at the end is the decimal one ("7,5", "25.50");
    separators before groups of three digits group thousands ("1.000", "1,000.50"). Anything
    else ("2,5,0", "12.3456", "1.000.50", "-5") is refused rather than guessed.
    """
    if len(text) > _TYPED_MAX:
        raise AmountError(text[:_TYPED_MAX])
    value = _SPACES.sub("", text).removeprefix("€").removesuffix("€").removeprefix("EUR")
    value = value.removesuffix(",-").removesuffix(".-")  # Dutch price style: "25,-"
    plain = _PLAIN.fullmatch(value)
    if plain:
        return int(plain[1]) * 100 + _cents(plain[2])
    grouped = _GROUPED.fullmatch(value)
    if grouped and grouped[3] != grouped[2]:  # one mark cannot both group and split
        return int(re.sub(r"[.,]", "", grouped[1])) * 100 + _cents(grouped[4])
    raise AmountError(text)


def _cents(decimals: str | None) -> int:
    return int(decimals.ljust(2, "0")) if decimals else 0


def form_token_new() -> str:
    return secrets.token_urlsafe(32)


class _AmountLimits:
    """Min/max messages shared by the donate form and the manage form."""

    @staticmethod
    def check(cents: int) -> int:
        low, high = settings.DONATION_MIN_CENTS, settings.DONATION_MAX_CENTS
        if cents < low:
            raise forms.ValidationError(
                _("The smallest gift we can accept is %(min)s."),
                code="min_amount",
                params={"min": euros(low)},
            )
        if cents > high:
            raise forms.ValidationError(
                _(
                    "For gifts above %(max)s, please contact us: we would love to thank you "
                    "in person."
                ),
                code="max_amount",
                params={"max": euros(high)},
            )
        return cents

    @staticmethod
    def parse(text: str) -> int:
        try:
            cents = parse_euros(text)
        except AmountError:
            raise forms.ValidationError(_INVALID_AMOUNT, code="invalid_amount") from None
        return _AmountLimits.check(cents)


class _TruncatedHidden(forms.CharField):
    """Attribution travels in hidden fields: an over-long value is cut, never an error the
    donor cannot see or fix."""

    def __init__(self, *, limit: int) -> None:
        super().__init__(required=False, widget=forms.HiddenInput, strip=True)
        self.limit = limit

    def to_python(self, value: Any) -> str:
        return str(super().to_python(value))[: self.limit]


def _method_choices() -> list[tuple[str, str]]:
    labels = {Method.CARD: _("Credit or debit card")}
    methods = dict.fromkeys([*ONE_OFF_METHODS, *MONTHLY_METHODS])  # the page's order
    return [(method.value, str(labels.get(method, method.label))) for method in methods]


def _preset_choices() -> list[tuple[str, str]]:
    presets = [(str(cents), euros(cents)) for cents in settings.DONATION_PRESETS_CENTS]
    return [*presets, (OTHER, str(_("Other amount")))]


@dataclass(frozen=True)
class FeeLine:
    """The extra to cover the fee for one way of paying, shown in the checkbox label."""

    key: str  # a method, or "monthly"
    label: str
    extra: int


def fee_lines(amount: int) -> list[FeeLine]:
    """Extras for `amount` cents: one-off per method, and monthly (SEPA's fee, see checkout)."""
    lines = [
        FeeLine(method.value, str(method.label), fee_cover_extra(amount, method))
        for method in ONE_OFF_METHODS
    ]
    monthly = GiftRequest(amount=amount, frequency=Frequency.MONTHLY, method=Method.IDEAL)
    lines.append(
        FeeLine("monthly", str(_("monthly")), fee_cover_extra(amount, gift_fee_method(monthly)))
    )
    return lines


class DonateForm(forms.Form):
    frequency = forms.ChoiceField(
        label=_("How often"),
        choices=Frequency.choices,
        initial=Frequency.ONE_OFF,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose once or monthly.")},
    )
    amount = forms.ChoiceField(
        label=_("Amount"),
        choices=_preset_choices,
        initial="2500",
        widget=forms.RadioSelect,
        required=False,
        # Only a tampered form sends another value: never echo it back.
        error_messages={
            "invalid_choice": _("Choose one of the amounts shown, or fill in another amount.")
        },
    )
    other_amount = forms.CharField(
        label=_("Other amount in euros"),
        required=False,
        max_length=20,
        error_messages=_TYPED_ERRORS,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    method = forms.ChoiceField(
        label=_("Pay with"),
        choices=_method_choices,
        initial=Method.IDEAL,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how you would like to pay.")},
    )
    cover_fee = forms.BooleanField(label=_("Cover the processing fee"), required=False)
    name = forms.CharField(
        label=_("Your name (optional)"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("Your email address (optional, for your thank-you and receipt)"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    # Its label is the campaign's exact consent wording for donor news (see __init__).
    news_opt_in = forms.BooleanField(required=False)
    news_text = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # Humans never see this field (hidden by CSS, skipped by keyboard and screen readers).
    website = forms.CharField(required=False, label=_("Leave this field empty"))
    form_token = forms.CharField(required=False, widget=forms.HiddenInput)
    source = _TruncatedHidden(limit=500)
    # The sign-up's limits: the same tags may go on to a Supporter (news opt-in).
    utm_source = _TruncatedHidden(limit=SOURCE_LIMITS["utm_source"])
    utm_medium = _TruncatedHidden(limit=SOURCE_LIMITS["utm_medium"])
    utm_campaign = _TruncatedHidden(limit=SOURCE_LIMITS["utm_campaign"])
    utm_term = _TruncatedHidden(limit=SOURCE_LIMITS["utm_term"])
    utm_content = _TruncatedHidden(limit=SOURCE_LIMITS["utm_content"])

    def __init__(self, *args: Any, news_text: ConsentText | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Consent is provable only with the exact wording shown: no wording, no checkbox.
        self.news_wording = news_text
        if news_text is None:
            del self.fields["news_opt_in"]
        else:
            self.fields["news_opt_in"].label = news_text.text
        self.fields["website"].widget.attrs.update(
            {"tabindex": "-1", "autocomplete": "off", "class": "hp-input"}
        )
        # A new token per rendered form; a resubmitted (double-clicked) form sends it back.
        if not self.is_bound:
            self.initial.setdefault("form_token", form_token_new())

    @property
    def is_bot(self) -> bool:
        """A filled honeypot. Read from the raw data: it must work even on an invalid form."""
        return bool(self.is_bound and str(self.data.get("website", "")).strip())

    def clean_email(self) -> str:
        email = str(self.cleaned_data.get("email") or "")
        return normalise_email(email) if email else ""

    def clean_name(self) -> str:
        name = " ".join(str(self.cleaned_data.get("name") or "").split())
        reject_unsafe_characters(name)
        return name

    def clean_form_token(self) -> str:
        token = str(self.cleaned_data.get("form_token") or "")
        # A missing or odd token (a cached page, a script) gets a fresh one: no dedupe then.
        return token if _TOKEN.match(token) else form_token_new()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._clean_amount(data)
        frequency, method = data.get("frequency"), data.get("method")
        if frequency == Frequency.MONTHLY and method and method not in MONTHLY_METHODS:
            self.add_error(
                "method",
                _(
                    "Bancontact is available for one-off gifts. Choose iDEAL, a card or SEPA "
                    "Direct Debit for a monthly gift."
                ),
            )
        if frequency == Frequency.ONE_OFF and method and method not in ONE_OFF_METHODS:
            self.add_error("method", _("SEPA Direct Debit is available for monthly gifts."))
        if data.get("news_opt_in") and not data.get("email") and "email" not in self.errors:
            self.add_error("email", _("Fill in your email address so we can send you news."))
        return data

    def _clean_amount(self, data: dict[str, Any]) -> None:
        choice = data.get("amount") or ""
        typed = str(data.get("other_amount") or "").strip()
        try:
            if choice in {"", OTHER}:
                if not typed:
                    raise forms.ValidationError(
                        _("Choose an amount or fill in another amount."), code="required"
                    )
                data["cents"] = _AmountLimits.parse(typed)
                return
            preset = int(choice)
            if typed and _parses_to(typed) != preset:
                # Without JavaScript a typed amount does not untick the preset: ask, not guess.
                raise forms.ValidationError(
                    _(
                        'You chose %(preset)s and also typed another amount. Choose "Other '
                        'amount" to give the amount you typed, or clear the typed amount.'
                    ),
                    code="ambiguous_amount",
                    params={"preset": euros(preset)},
                )
            data["cents"] = _AmountLimits.check(preset)
        except forms.ValidationError as error:
            self.add_error("other_amount" if choice in {"", OTHER} else "amount", error)

    def shown_amount(self) -> int:
        """The amount the fee lines are worked out for: the donor's, else the default preset.

        Read from the raw data, as an invalid form shows its extras too; only a preset we offer
        or a typed amount within our limits counts, so what an invalid form works out is never
        more than for a valid one.
        """
        if self.is_bound:
            choice = str(self.data.get("amount") or "")
            if choice in {str(cents) for cents in settings.DONATION_PRESETS_CENTS}:
                return int(choice)
            typed = _parses_to(str(self.data.get("other_amount") or ""))
            low, high = settings.DONATION_MIN_CENTS, settings.DONATION_MAX_CENTS
            if typed is not None and low <= typed <= high:
                return typed
        return int(self.fields["amount"].initial)

    def gift_request(self, *, language: str) -> GiftRequest:
        data = self.cleaned_data
        return GiftRequest(
            amount=data["cents"],
            frequency=Frequency(data["frequency"]),
            method=Method(data["method"]),
            cover_fee=bool(data.get("cover_fee")),
            name=data.get("name", ""),
            email=data.get("email", ""),
            news_opt_in=bool(data.get("news_opt_in")),
            language=language,
            source_token=data.get("source", ""),
            utm={key: data[key] for key in UTM_FIELDS if data.get(key)},
        )

    def request_token(self, gift: GiftRequest) -> str:
        """The form token bound to what was asked: a double click (same token, same gift) finds
        the same Donation; a donor who comes back and changes the gift gets a new one, as
        Stripe refuses an idempotency key reused with other parameters."""
        parts = [
            self.cleaned_data["form_token"],
            str(gift.amount),
            gift.frequency,
            gift.method,
            str(gift.cover_fee),
            gift.name,
            gift.email.lower(),
            str(gift.news_opt_in),
            gift.language,
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def news_text_for(data: Any, language: str) -> ConsentText | None:
    """The donor-news wording to show: the version the form was shown with when it comes back
    (so the consent records what the donor read), else the newest in this language."""
    posted = str(data.get("news_text") or "") if data is not None else ""
    if _ID.fullmatch(posted):
        shown = ConsentText.objects.filter(pk=int(posted), topic=Topic.DONOR_NEWS).first()
        if shown is not None:
            return shown
    return consent_texts_current(language).get(Topic.DONOR_NEWS)


def _parses_to(text: str) -> int | None:
    try:
        return parse_euros(text) if text.strip() else None
    except AmountError:
        return None


class AmountForm(forms.Form):
    """A new monthly amount, on the manage page."""

    amount = forms.CharField(
        label=_("New monthly amount in euros"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        error_messages={**_TYPED_ERRORS, "required": _("Fill in the new monthly amount.")},
    )

    def clean_amount(self) -> int:
        return _AmountLimits.parse(str(self.cleaned_data["amount"]))
