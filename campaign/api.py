"""The supporters' JSON API: sign-up, re-send, and the consent wording to show.

The body is read here rather than by django-ninja's parameter binding so that every request
counts against the IP rate limit before anything else happens, and so that every error comes
back in one shape, translated: ``{"errors": {"field": ["message", ...]}}``. Validation goes
through the same SignupForm as the HTML form. The OpenAPI schema documents the same models.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import get_supported_language_variant
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict
from pydantic import ValidationError as PydanticValidationError

from campaign import ratelimits, services, wording
from campaign.forms import SOURCE_LIMITS, ResendForm, SignupForm
from campaign.models import Consent, Language, Topic
from campaign.selectors import consent_texts_current
from campaign.services import Evidence, SignupSource
from campaign.validation import (
    EMAIL_MAX_LENGTH,
    FIRST_NAME_MAX_LENGTH,
    TEXT_TOO_LONG,
    normalise_email,
)

log = structlog.get_logger(__name__)

router = Router(tags=["supporters"])

# A sign-up is a few hundred bytes; anything much larger is not one.
MAX_BODY_BYTES = 16 * 1024
NON_FIELD = "__all__"


def request_language(request: HttpRequest) -> str:
    """The API answers in the Accept-Language the client sends (the site's pages take their
    language from the URL instead); Dutch when it names nothing we speak."""
    for code, _quality in parse_accept_lang_header(request.headers.get("accept-language", "")):
        if code == "*":
            break
        try:
            return get_supported_language_variant(code)
        except LookupError:
            continue
    return str(settings.LANGUAGE_CODE)


def in_request_language(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        language = request_language(request)
        with translation.override(language):
            response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponse):
            response["Content-Language"] = language
        return response

    return wrapper


def _schema(**extra: Any) -> Any:
    """Extra JSON-schema keywords for the OpenAPI document (validation is the form's job)."""
    return extra


def _max(length: int, **extra: Any) -> Any:
    return _schema(maxLength=length, **extra)


_RAW_LIMITS = {"email": EMAIL_MAX_LENGTH, "first_name": FIRST_NAME_MAX_LENGTH, **SOURCE_LIMITS}


class SignupIn(Schema):
    """A sign-up. ``consent: true`` states that the person ticked a box for each topic in
    ``topics`` whose label was the wording returned by ``GET /api/consent-texts`` (send the ids
    shown in ``consent_texts``; without them the current wording is recorded)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(..., json_schema_extra=_max(EMAIL_MAX_LENGTH, format="email"))
    first_name: str = Field("", json_schema_extra=_max(FIRST_NAME_MAX_LENGTH))
    language: str = Field("nl", json_schema_extra=_schema(enum=Language.values))
    topics: list[str] = Field(
        ...,
        json_schema_extra=_schema(
            items={"type": "string", "enum": Topic.values}, minItems=1, uniqueItems=True
        ),
    )
    consent: bool = Field(..., json_schema_extra=_schema(const=True))
    consent_texts: dict[str, int] | None = Field(
        None, description="topic -> id of the consent text shown (GET /api/consent-texts)"
    )
    source_page: str = Field("", json_schema_extra=_max(SOURCE_LIMITS["source_page"]))
    referrer: str = Field("", json_schema_extra=_max(SOURCE_LIMITS["referrer"]))
    utm_source: str = Field("", json_schema_extra=_max(SOURCE_LIMITS["utm_source"]))
    utm_medium: str = Field("", json_schema_extra=_max(SOURCE_LIMITS["utm_medium"]))
    utm_campaign: str = Field("", json_schema_extra=_max(SOURCE_LIMITS["utm_campaign"]))
    utm_term: str = Field("", json_schema_extra=_max(SOURCE_LIMITS["utm_term"]))
    utm_content: str = Field("", json_schema_extra=_max(SOURCE_LIMITS["utm_content"]))


class ResendIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(..., json_schema_extra=_max(EMAIL_MAX_LENGTH, format="email"))


class AcceptedOut(Schema):
    status: str = Field(..., examples=["accepted"])
    message: str


class ErrorsOut(Schema):
    errors: dict[str, list[str]] = Field(
        ..., examples=[{"email": ["Enter a valid email address, such as name@example.nl."]}]
    )


class ConsentTextOut(Schema):
    id: int
    topic: str
    language: str
    version: int
    text: str


ERROR_RESPONSES: dict[int, Any] = {
    400: ErrorsOut,
    413: ErrorsOut,
    415: ErrorsOut,
    422: ErrorsOut,
    429: ErrorsOut,
}


def _request_body(model: type[Schema]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def errors_response(errors: dict[str, list[str]], status: int) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


class BadRequest(Exception):
    def __init__(self, status: int, errors: dict[str, list[str]]) -> None:
        super().__init__(status)
        self.status = status
        self.errors = errors

    def response(self) -> JsonResponse:
        return errors_response(self.errors, self.status)


def _pydantic_message(error: Any) -> str:
    kind = error.get("type", "")
    messages = {
        "missing": _("This field is required."),
        "extra_forbidden": _("This field is not part of the API."),
        "string_type": _("Send text (a JSON string)."),
        "list_type": _("Send a list (a JSON array)."),
        "bool_type": _("Send true or false."),
        "dict_type": _("Send an object (a JSON object)."),
        "int_type": _("Send a whole number."),
    }
    return messages.get(kind, _("Enter a valid value."))


def _parse(request: HttpRequest, model: type[Schema]) -> Any:
    """Content type, size, JSON and types, in that order; anything wrong raises BadRequest."""
    if request.content_type != "application/json":
        raise BadRequest(415, {NON_FIELD: [_("Send JSON, with Content-Type: application/json.")]})
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise BadRequest(413, {NON_FIELD: [_("The request is too large.")]})
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        raise BadRequest(400, {NON_FIELD: [_("The request body is not valid JSON.")]}) from None
    if not isinstance(data, dict):
        raise BadRequest(422, {NON_FIELD: [_("Send a JSON object.")]})
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            location = error.get("loc") or ()
            name = str(location[0]) if location else NON_FIELD
            errors.setdefault(name, [])
            message = _pydantic_message(error)
            if message not in errors[name]:
                errors[name].append(message)
        raise BadRequest(422, errors) from None


def _limited(request: HttpRequest, rate: str, group: str) -> JsonResponse | None:
    verdict = ratelimits.hit_ip(request, group=group, rate=rate)
    return _too_many(verdict.retry_after) if verdict.limited else None


def _too_many(retry_after: int) -> JsonResponse:
    response = errors_response(
        {NON_FIELD: [_("Too many attempts from your network. Please try again later.")]}, 429
    )
    response["Retry-After"] = str(retry_after)
    return response


def _email_or_none(payload: SignupIn | None) -> str | None:
    """The address as stored, when the request carries a valid one (for its rate limit)."""
    if payload is None or len(payload.email) > EMAIL_MAX_LENGTH:
        return None
    try:
        return normalise_email(payload.email)
    except ValidationError:
        return None


def _accepted() -> JsonResponse:
    return JsonResponse(
        {
            "status": "accepted",
            "message": _(
                "Thank you. If the address is correct, an email to confirm is on its way."
            ),
        },
        status=202,
    )


def _evidence(request: HttpRequest) -> Evidence:
    return Evidence.from_values(
        method=Consent.Method.API,
        ip=ratelimits.client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )


@router.post(
    "/signups",
    response={202: AcceptedOut, **ERROR_RESPONSES},
    summary="Sign up for email (double opt-in)",
    description=(
        "Always 202 for a valid request, whether or not the address was known: the answer "
        "never tells who has signed up. A confirmation email is sent in the chosen language."
    ),
    openapi_extra=_request_body(SignupIn),
)
@in_request_language
def signup_create(request: HttpRequest) -> HttpResponse:
    # The body is read first (bounded, no database) so that the address and the network are
    # counted in one Redis round trip; whatever the body, the network's budget is spent.
    try:
        payload: SignupIn | None = _parse(request, SignupIn)
    except BadRequest as exc:
        payload, bad = None, exc
    verdict = ratelimits.hit_signup(request, email=_email_or_none(payload))
    if verdict.ip.limited:
        return _too_many(verdict.ip.retry_after)
    if payload is None:
        return bad.response()

    language = payload.language if payload.language in Language.values else "nl"
    texts = wording.consent_texts_current_at(language, verdict.wording)
    ids = ",".join(str(i) for i in (payload.consent_texts or {}).values())
    form = SignupForm(
        data={
            "email": payload.email,
            "first_name": payload.first_name,
            "language": payload.language,
            "topics": payload.topics,
            "consent_texts": ids,
            **{name: getattr(payload, name) for name in SOURCE_LIMITS},
        },
        texts=texts,
    )
    errors: dict[str, list[str]] = {}
    if not form.is_valid():
        errors = {name: [str(m) for m in messages] for name, messages in form.errors.items()}
    # The schema's maxLength is the raw value's: the form strips whitespace first, so a padded
    # value it would take must still be refused here (the published contract).
    for name, limit in _RAW_LIMITS.items():
        if len(getattr(payload, name)) > limit and name not in errors:
            errors[name] = [str(TEXT_TOO_LONG) % {"limit_value": limit}]
    if payload.consent is not True:
        errors["consent"] = [
            _("Consent is required: send true once the person has ticked the box for each topic.")
        ]
    if len(payload.topics) != len(set(payload.topics)):
        errors.setdefault("topics", []).append(_("Name each topic once."))
    if not errors and payload.consent_texts:
        shown = form.cleaned_data["consent_texts"]
        for topic, text_id in payload.consent_texts.items():
            if topic not in shown or shown[topic].pk != text_id:
                errors.setdefault("consent_texts", []).append(
                    _("Consent text %(id)s is not wording for the topic “%(topic)s”.")
                    % {"id": text_id, "topic": topic[:40]}
                )
    if errors:
        return errors_response(errors, 422)

    if verdict.email_limited:
        log.info("signup.email_rate_limited", via="api")
        return _accepted()
    services.supporter_sign_up(
        email=form.cleaned_data["email"],
        first_name=form.cleaned_data["first_name"],
        language=form.cleaned_data["language"],
        texts=form.chosen_texts(),
        evidence=_evidence(request),
        source=SignupSource(
            **{
                "page": form.cleaned_data["source_page"],
                "referrer": form.cleaned_data["referrer"],
                **{n: form.cleaned_data[n] for n in SOURCE_LIMITS if n.startswith("utm_")},
            }
        ),
    )
    return _accepted()


@router.post(
    "/signups/resend",
    response={202: AcceptedOut, **ERROR_RESPONSES},
    summary="Send the confirmation (or preference-centre) link again",
    description="Always 202 for a valid request, known address or not.",
    openapi_extra=_request_body(ResendIn),
)
@in_request_language
def signup_resend(request: HttpRequest) -> HttpResponse:
    limited = _limited(request, settings.SUPPORTERS_RATE_RESEND_IP, "resend")
    if limited is not None:
        return limited
    try:
        payload: ResendIn = _parse(request, ResendIn)
    except BadRequest as exc:
        return exc.response()
    form = ResendForm(data={"email": payload.email})
    if len(payload.email) > EMAIL_MAX_LENGTH:
        message = str(TEXT_TOO_LONG) % {"limit_value": EMAIL_MAX_LENGTH}
        return errors_response({"email": [message]}, 422)
    if not form.is_valid():
        return errors_response(
            {name: [str(m) for m in messages] for name, messages in form.errors.items()}, 422
        )
    email = form.cleaned_data["email"]
    if not ratelimits.hit_email(
        request, group="resend", email=email, rate=settings.SUPPORTERS_RATE_RESEND_EMAIL
    ).limited:
        services.supporter_link_resend(email=email)
    return _accepted()


@router.get(
    "/consent-texts",
    response={200: list[ConsentTextOut], 422: ErrorsOut},
    summary="The consent wording to show next to each topic's checkbox",
)
@in_request_language
def consent_texts(request: HttpRequest, language: str = "nl") -> Any:
    if language not in Language.values:
        return Status(422, {"errors": {"language": [_("Choose Dutch or English.")]}})
    return [
        ConsentTextOut(
            id=text.pk,
            topic=text.topic,
            language=text.language,
            version=text.version,
            text=text.text,
        )
        for text in consent_texts_current(language).values()
    ]
