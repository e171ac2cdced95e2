"""Forms for supporters. The JSON API validates through SignupForm too: one set of rules and
one set of translated messages for every way in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from campaign.models import ConsentText, Language, Topic
from campaign.selectors import consent_texts_by_ids, consent_texts_current
from campaign.services import SignupSource
from campaign.validation import (
    EMAIL_MAX_LENGTH,
    EMAIL_TOO_LONG,
    FIRST_NAME_MAX_LENGTH,
    FIRST_NAME_TOO_LONG,
    TEXT_TOO_LONG,
    clean_first_name,
    normalise_email,
    reject_unsafe_characters,
)

if TYPE_CHECKING:  # type-only: django-stubs is a development dependency
    from django_stubs_ext import StrOrPromise

# Hidden fields filled from the page the form is on; lengths match the Supporter columns.
SOURCE_LIMITS = {
    "source_page": 300,
    "referrer": 500,
    "utm_source": 100,
    "utm_medium": 100,
    "utm_campaign": 100,
    "utm_term": 100,
    "utm_content": 100,
}
HONEYPOT = "website"
_TEXT_ID = re.compile(r"^[0-9]{1,9}$")

TOPIC_HELP = {
    Topic.STORIES: _("True stories of children on the move."),
    Topic.APPEALS: _("When children urgently need help."),
    Topic.DONOR_NEWS: _("What donations achieve."),
}


@dataclass(frozen=True)
class TopicOption:
    """One topic checkbox: its label is the exact, versioned consent wording."""

    value: str
    name: str
    text: ConsentText
    checked: bool
    html_id: str


def _hidden_text_field(max_length: int) -> forms.CharField:
    return forms.CharField(
        max_length=max_length,
        required=False,
        validators=[reject_unsafe_characters],
        widget=forms.HiddenInput,
        error_messages={"max_length": TEXT_TOO_LONG},
    )


def _first_name_field(label: StrOrPromise) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=FIRST_NAME_MAX_LENGTH,
        required=False,
        error_messages={"max_length": FIRST_NAME_TOO_LONG},
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )


def _language_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Language of our emails"),
        choices=Language.choices,
        error_messages={
            "required": _("Choose a language."),
            "invalid_choice": _("Choose Dutch or English."),
        },
    )


class TopicsMixin(forms.Form):
    """Topic checkboxes plus the ids of the wording versions the page showed."""

    topics = forms.MultipleChoiceField(
        label=_("Topics"),
        choices=Topic.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one topic."),
            "invalid_choice": _("Choose from the topics listed."),
            "invalid_list": _("Choose from the topics listed."),
        },
    )
    consent_texts = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args: Any, texts: Mapping[str, ConsentText], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.texts = dict(texts)
        offered = [(value, label) for value, label in Topic.choices if value in self.texts]
        # The stubs type fields as Field, which has no choices; this one is a ChoiceField.
        self.fields["topics"].choices = offered  # type: ignore[attr-defined]
        self.fields["consent_texts"].initial = ",".join(str(t.pk) for t in self.texts.values())

    def clean_consent_texts(self) -> dict[str, ConsentText]:
        """The wording each topic showed: the versions named in the form (the page may be older
        than a newly published version), else the current ones."""
        raw = self.cleaned_data.get("consent_texts") or ""
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if len(parts) > len(Topic.values) or not all(_TEXT_ID.match(p) for p in parts):
            raise ValidationError(
                _("Unknown consent wording: reload the page and try again."), code="invalid"
            )
        if not parts:
            return dict(self.texts)
        found = consent_texts_by_ids(int(part) for part in parts)
        shown = {text.topic: text for text in found}
        if len(found) != len(parts) or len(shown) != len(found):
            raise ValidationError(
                _("Unknown consent wording: reload the page and try again."), code="invalid"
            )
        return {**self.texts, **shown}

    def topic_options(self) -> list[TopicOption]:
        if self.is_bound:
            selected = set(self.data.getlist("topics")) if hasattr(self.data, "getlist") else set()
        else:
            selected = set(self.initial.get("topics") or [])
        field_id = self["topics"].auto_id or "id_topics"
        return [
            TopicOption(
                value=value,
                name=str(label),
                text=self.texts[value],
                checked=value in selected,
                html_id=f"{field_id}_{index}",
            )
            for index, (value, label) in enumerate(Topic.choices)
            if value in self.texts
        ]

    def chosen_texts(self) -> dict[str, ConsentText]:
        texts: dict[str, ConsentText] = self.cleaned_data["consent_texts"]
        return {topic: texts[topic] for topic in self.cleaned_data["topics"]}


class SignupForm(TopicsMixin, forms.Form):
    email = forms.CharField(
        label=_("Email address"),
        max_length=EMAIL_MAX_LENGTH,
        error_messages={"required": _("Enter your email address."), "max_length": EMAIL_TOO_LONG},
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    first_name = _first_name_field(_("First name (optional)"))
    language = _language_field()
    # The honeypot: hidden from people (CSS and aria-hidden), filled in by naive bots.
    website = forms.CharField(required=False, max_length=200)
    source_page = _hidden_text_field(SOURCE_LIMITS["source_page"])
    referrer = _hidden_text_field(SOURCE_LIMITS["referrer"])
    utm_source = _hidden_text_field(SOURCE_LIMITS["utm_source"])
    utm_medium = _hidden_text_field(SOURCE_LIMITS["utm_medium"])
    utm_campaign = _hidden_text_field(SOURCE_LIMITS["utm_campaign"])
    utm_term = _hidden_text_field(SOURCE_LIMITS["utm_term"])
    utm_content = _hidden_text_field(SOURCE_LIMITS["utm_content"])

    field_order = ["email", "first_name", "language", "topics"]

    def is_bot(self) -> bool:
        return bool(str(self.data.get(HONEYPOT, "") or "").strip())

    def clean_email(self) -> str:
        return normalise_email(self.cleaned_data["email"])

    def clean_first_name(self) -> str:
        return clean_first_name(self.cleaned_data.get("first_name") or "")

    def source(self) -> SignupSource:
        data = self.cleaned_data
        return SignupSource(
            page=data["source_page"],
            referrer=data["referrer"],
            utm_source=data["utm_source"],
            utm_medium=data["utm_medium"],
            utm_campaign=data["utm_campaign"],
            utm_term=data["utm_term"],
            utm_content=data["utm_content"],
        )


class PreferencesForm(TopicsMixin, forms.Form):
    first_name = _first_name_field(_("First name"))
    language = _language_field()

    field_order = ["first_name", "language", "topics"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # No topic at all is a valid choice here: it is the same as unsubscribing.
        self.fields["topics"].required = False

    def clean_first_name(self) -> str:
        return clean_first_name(self.cleaned_data.get("first_name") or "")


class ResendForm(forms.Form):
    email = forms.CharField(
        label=_("Email address"),
        max_length=EMAIL_MAX_LENGTH,
        error_messages={"required": _("Enter your email address."), "max_length": EMAIL_TOO_LONG},
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    website = forms.CharField(required=False, max_length=200)

    def is_bot(self) -> bool:
        return bool(str(self.data.get(HONEYPOT, "") or "").strip())

    def clean_email(self) -> str:
        return normalise_email(self.cleaned_data["email"])


def signup_form_for_page(request: HttpRequest) -> SignupForm:
    """An unbound sign-up form for a public page: its language, the page as source, and the
    visit's UTM parameters and referrer (cut to the column lengths, so they never fail)."""
    language = (get_language() or "nl")[:2]
    initial: dict[str, Any] = {"language": language if language in Language.values else "nl"}
    initial["source_page"] = request.path
    initial["referrer"] = request.headers.get("referer", "")
    for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
        initial[name] = request.GET.get(name, "")
    for name, limit in SOURCE_LIMITS.items():
        cleaned = "".join(c for c in str(initial.get(name, "")) if c.isprintable())
        initial[name] = cleaned[:limit]
    return SignupForm(initial=initial, texts=consent_texts_current(initial["language"]))
