"""Public pages for supporters: sign-up, double opt-in, preference centre, one-click unsubscribe,
and the short-lived links to a supporter's own data.

Every link in an email is safe to fetch: mail scanners GET every link of a message before the
person sees it, so a GET only ever shows a page, and the page's button (a POST) acts.
They work without JavaScript (plain forms, POST-redirect-GET) and in Dutch and English.
Pages reached through a signed link are never cached and never send the link on as a referrer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaign import data_links, ratelimits, services, wording
from campaign.data_links import DataLinkOutcome
from campaign.emails import supporter_link_token
from campaign.forms import PreferencesForm, ResendForm, SignupForm, signup_form_for_page
from campaign.models import Consent, Language, Supporter, SupporterAudit
from campaign.selectors import consent_texts_current, supporter_for_link, supporter_open_consents
from campaign.services import ConfirmOutcome, Evidence
from campaign.tokens import DATA_LINK_MAX_AGE, InvalidToken, confirmation_token_read
from campaign.validation import normalise_email

log = structlog.get_logger(__name__)

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


def _page_language() -> str:
    language = (get_language() or "nl")[:2]
    return language if language in Language.values else "nl"


def _evidence(request: HttpRequest, method: str) -> Evidence:
    return Evidence.from_values(
        method=method,
        ip=ratelimits.client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )


def private_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For pages behind a signed link: not cached, not indexed, the link never leaks to others."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        # Our own pages may see the URL as referrer; nobody else. ("no-referrer" would make the
        # browser send "Origin: null" with the page's forms, which CSRF protection rejects.)
        response["Referrer-Policy"] = "same-origin"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapper


def _too_many(request: HttpRequest, retry_after: int) -> HttpResponse:
    response = render(request, "campaign/too_many.html", status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "campaign/link_invalid.html", status=404)


# --- sign-up ------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """GET: the form on its own page. POST: from here or from the form on any story page."""
    if request.method != "POST":
        return render(
            request, "campaign/signup.html", {"signup_form": signup_form_for_page(request)}
        )

    # The network and the address are counted in one Redis round trip, before the database.
    verdict = ratelimits.hit_signup(request, email=_email_or_none(request.POST.get("email")))
    if verdict.ip.limited:
        log.info("signup.ip_rate_limited")
        return _too_many(request, verdict.ip.retry_after)
    texts = wording.consent_texts_current_at(_page_language(), verdict.wording)
    form = SignupForm(request.POST, texts=texts)
    if form.is_bot():
        # Same answer as a person gets; nothing stored, nothing sent.
        log.info("signup.honeypot")
        return redirect("campaign:signup_thanks")
    if not form.is_valid():
        return render(request, "campaign/signup.html", {"signup_form": form})

    if verdict.email_limited:
        # This address has had its emails for now; the answer stays the same.
        log.info("signup.email_rate_limited")
    else:
        services.supporter_sign_up(
            email=form.cleaned_data["email"],
            first_name=form.cleaned_data["first_name"],
            language=form.cleaned_data["language"],
            texts=form.chosen_texts(),
            evidence=_evidence(request, Consent.Method.FORM),
            source=form.source(),
        )
    return redirect("campaign:signup_thanks")


def _email_or_none(value: str | None) -> str | None:
    """The address as stored, when the form carries a valid one (for its rate limit)."""
    try:
        return normalise_email(value or "")
    except ValidationError:
        return None


def signup_thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "campaign/signup_thanks.html")


@require_http_methods(["GET", "HEAD", "POST"])
def signup_resend(request: HttpRequest) -> HttpResponse:
    """ "Send me my link again": the confirmation link, or the preference-centre link."""
    if request.method != "POST":
        return render(request, "campaign/signup_resend.html", {"form": ResendForm()})
    verdict = ratelimits.hit_ip(request, group="resend", rate=settings.SUPPORTERS_RATE_RESEND_IP)
    if verdict.limited:
        return _too_many(request, verdict.retry_after)
    form = ResendForm(request.POST)
    if form.is_bot():
        return render(request, "campaign/signup_resend.html", {"sent": True})
    if not form.is_valid():
        return render(request, "campaign/signup_resend.html", {"form": form})
    email = form.cleaned_data["email"]
    if not ratelimits.hit_email(
        request, group="resend", email=email, rate=settings.SUPPORTERS_RATE_RESEND_EMAIL
    ).limited:
        services.supporter_link_resend(email=email)
    return render(request, "campaign/signup_resend.html", {"sent": True})


# The signed token in the link is the credential here, not a cookie: the request carries no
# ambient authority a forged cross-site POST could borrow, and whoever holds the link can POST it
# anyway. A CSRF check would add only a way to fail: mail apps open links in webviews that drop
# cookies, and a person pressing the button would get a 403 instead of a confirmed consent.
@csrf_exempt
@private_page
@require_http_methods(["GET", "HEAD", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET (a person's click, or a mail scanner fetching the link): a page with one button, and
    nothing changes. POST from that button: confirms, with that request's IP address and user
    agent as the evidence. POST ``action=resend`` (the expired page's button): a fresh link."""
    if request.method == "POST" and request.POST.get("action") == "resend":
        return _confirm_resend(request, token)
    if request.method == "POST":
        result = services.supporter_confirm(
            token=token, evidence=_evidence(request, Consent.Method.EMAIL_LINK)
        )
    else:
        result = services.confirmation_check(token=token)
    status = {
        ConfirmOutcome.READY: 200,
        ConfirmOutcome.CONFIRMED: 200,
        ConfirmOutcome.ALREADY_USED: 200,
        ConfirmOutcome.EXPIRED: 410,
        ConfirmOutcome.INVALID: 400,
    }[result.outcome]
    context: dict[str, Any] = {"outcome": result.outcome.value, "token": token}
    if result.supporter is not None:
        consents = supporter_open_consents(result.supporter.pk)
        context["topics"] = consents
        context["pending"] = [c for c in consents if c.confirmed_at is None]
        context["signed_up"] = result.supporter.status == Supporter.Status.ACTIVE
    if result.outcome is ConfirmOutcome.CONFIRMED and result.supporter is not None:
        context["preferences_token"] = supporter_link_token(result.supporter)
    return render(request, "campaign/signup_confirm.html", context, status=status)


def _confirm_resend(request: HttpRequest, token: str) -> HttpResponse:
    try:
        claim = confirmation_token_read(token)
    except InvalidToken:
        return render(request, "campaign/signup_confirm.html", {"outcome": "invalid"}, status=400)
    verdict = ratelimits.hit_ip(request, group="resend", rate=settings.SUPPORTERS_RATE_RESEND_IP)
    if verdict.limited:
        return _too_many(request, verdict.retry_after)
    if not ratelimits.hit(
        request,
        group="resend:supporter",
        value=str(claim.supporter_id),
        rate=settings.SUPPORTERS_RATE_RESEND_EMAIL,
    ).limited:
        services.supporter_link_resend_for(supporter_id=claim.supporter_id)
    return render(request, "campaign/signup_resend.html", {"sent": True})


# --- preference centre --------------------------------------------------------------------------


def _preferences_url(token: str, language: str) -> str:
    with translation.override(language):
        return reverse("campaign:preferences", kwargs={"token": token})


@private_page
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    supporter = supporter_for_link(token)
    if supporter is None:
        return _link_invalid(request)
    texts = consent_texts_current(_page_language())
    open_consents = supporter_open_consents(supporter.pk)

    if request.method == "POST" and request.POST.get("action") == "unsubscribe":
        services.supporter_unsubscribe(
            supporter_id=supporter.pk,
            method=Consent.Method.PREFERENCE_CENTRE,
            actor=SupporterAudit.Actor.SUPPORTER,
        )
        return HttpResponseRedirect(
            _preferences_url(token, supporter.language) + "?done=unsubscribed"
        )

    if request.method == "POST":
        form = PreferencesForm(request.POST, texts=texts)
        if form.is_valid():
            services.supporter_preferences_update(
                supporter_id=supporter.pk,
                first_name=form.cleaned_data["first_name"],
                language=form.cleaned_data["language"],
                texts=form.chosen_texts(),
                evidence=_evidence(request, Consent.Method.PREFERENCE_CENTRE),
            )
            language = form.cleaned_data["language"]
            return HttpResponseRedirect(_preferences_url(token, language) + "?done=saved")
    else:
        form = PreferencesForm(
            initial={
                "first_name": supporter.first_name,
                "language": supporter.language,
                "topics": [consent.topic for consent in open_consents],
            },
            texts=texts,
        )
    context = {
        "supporter": supporter,
        "token": token,
        "form": form,
        "pending": [c.topic for c in open_consents if c.confirmed_at is None],
        "active": [c.topic for c in open_consents if c.confirmed_at is not None],
        "done": request.GET.get("done", "") if request.method == "GET" else "",
        "data_link_minutes": _data_link_minutes(),
    }
    return render(request, "campaign/preferences.html", context)


def _data_link_request(request: HttpRequest, token: str, purpose: str) -> HttpResponse:
    """The preference link never opens the data itself: it emails a fresh, short-lived link
    for this one purpose to the supporter's own address (campaign/data_links.py)."""
    supporter = supporter_for_link(token)
    if supporter is None:
        return _link_invalid(request)
    verdict = ratelimits.hit(
        request,
        group="data_link:supporter",
        value=str(supporter.pk),
        rate=settings.SUPPORTERS_RATE_RESEND_EMAIL,
    )
    if verdict.limited:
        log.info("data_link.rate_limited", supporter_id=supporter.pk)
        return _too_many(request, verdict.retry_after)
    data_links.data_link_request(supporter_id=supporter.pk, purpose=purpose)
    context = {"purpose": purpose, "token": token, "minutes": _data_link_minutes()}
    return render(request, "campaign/data_link_sent.html", context)


def _data_link_minutes() -> int:
    return int(DATA_LINK_MAX_AGE.total_seconds() // 60)


@private_page
@require_http_methods(["POST"])
def preferences_data(request: HttpRequest, token: str) -> HttpResponse:
    """ "Send me a link to download my data" (AVG art. 15 and 20)."""
    return _data_link_request(request, token, data_links.EXPORT)


@private_page
@require_http_methods(["GET", "HEAD", "POST"])
def preferences_erase(request: HttpRequest, token: str) -> HttpResponse:
    """ "Send me a link to erase my data" (AVG art. 17); a GET goes back to the preferences."""
    if request.method == "POST":
        return _data_link_request(request, token, data_links.ERASE)
    if supporter_for_link(token) is None:
        return _link_invalid(request)
    return HttpResponseRedirect(reverse("campaign:preferences", kwargs={"token": token}) + "#data")


# --- the short-lived personal-data links --------------------------------------------------------

_DATA_LINK_STATUS = {
    DataLinkOutcome.READY: 200,
    DataLinkOutcome.DONE: 200,
    DataLinkOutcome.USED: 410,
    DataLinkOutcome.EXPIRED: 410,
}


def _data_link_page(request: HttpRequest, token: str, purpose: str, outcome: str) -> HttpResponse:
    if outcome == DataLinkOutcome.INVALID:
        return _link_invalid(request)
    context = {"purpose": purpose, "token": token, "outcome": outcome}
    return render(
        request,
        "campaign/data_link.html",
        context,
        status=_DATA_LINK_STATUS[DataLinkOutcome(outcome)],
    )


# CSRF exempt for the reason given at signup_confirm: the signed token (30 minutes, single use)
# is the credential, and a dropped cookie must not lock a person out of their own data.
@csrf_exempt
@private_page
@require_http_methods(["GET", "HEAD", "POST"])
def data_export(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with the download button (changes nothing). POST: the supporter's own copy
    of their data (AVG art. 15 and 20) as a JSON download; the link is spent."""
    if request.method != "POST":  # GET and HEAD: the page, nothing spent
        state = data_links.data_link_check(token=token, purpose=data_links.EXPORT)
        return _data_link_page(request, token, data_links.EXPORT, state.outcome)
    result = data_links.data_link_export(token=token)
    if result.document is None:
        return _data_link_page(request, token, data_links.EXPORT, result.outcome)
    body = json.dumps(result.document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="save-the-survivors-my-data.json"'
    return response


@csrf_exempt  # see data_export
@private_page
@require_http_methods(["GET", "HEAD", "POST"])
def data_erase(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what erasure means, and its button (changes nothing). POST: erase (AVG art. 17)."""
    if request.method != "POST":  # GET and HEAD: the page, nothing erased
        state = data_links.data_link_check(token=token, purpose=data_links.ERASE)
        return _data_link_page(request, token, data_links.ERASE, state.outcome)
    result = data_links.data_link_erase(token=token)
    if result.outcome is not DataLinkOutcome.DONE:
        return _data_link_page(request, token, data_links.ERASE, result.outcome)
    return render(request, "campaign/erased.html")


# --- one-click unsubscribe (RFC 8058) --------------------------------------------------------


@csrf_exempt  # the signed URL is the credential; mail clients POST without cookies or tokens
@private_page
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_one_click(request: HttpRequest, token: str) -> HttpResponse:
    """POST ``List-Unsubscribe=One-Click``: unsubscribe from everything, at once.

    GET (a person's click, or a mail scanner fetching links) only shows a page with a button
    that makes that same POST: a GET never unsubscribes.
    """
    supporter = supporter_for_link(token)
    if supporter is None:
        return _link_invalid(request)
    with translation.override(supporter.language):
        context = {"token": token, "preferences_token": token}
        if request.method in {"GET", "HEAD"}:  # a link checker's HEAD changes nothing either
            return render(request, "campaign/unsubscribe.html", context)
        if request.POST.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
            return render(request, "campaign/unsubscribe.html", context, status=400)
        services.supporter_unsubscribe(
            supporter_id=supporter.pk,
            method=Consent.Method.ONE_CLICK,
            actor=SupporterAudit.Actor.SUPPORTER,
        )
        return render(request, "campaign/unsubscribe.html", {**context, "done": True})
