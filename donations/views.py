"""The public donation pages: donate, thank you (the gift's real status) and manage a monthly gift.

Nothing here decides that a gift is paid: only the webhook inbox does (donations.handlers).
These views start gifts, show what our database knows, and hand changes to the services.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import structlog
from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from campaign.forms import SOURCE_LIMITS
from campaign.models import Consent, Topic
from campaign.ratelimits import client_ip
from campaign.services import Evidence, SignupSource, supporter_sign_up
from donations import recurring as recurring_services
from donations import stripe_api
from donations.checkout import (
    MONTHLY_METHODS,
    ONE_OFF_METHODS,
    GiftRequest,
    checkout_start,
    donation_create,
)
from donations.defence import Block, blocked_log, checkout_rate_limited, ip_blocked
from donations.forms import (
    OTHER,
    UTM_FIELDS,
    AmountForm,
    DonateForm,
    fee_lines,
    form_token_new,
    news_text_for,
)
from donations.models import (
    Donation,
    DonationStatus,
    Frequency,
    RecurringDonation,
    RecurringState,
)
from donations.templatetags.donations import euros

log = structlog.get_logger(__name__)

# The thanks page of a gift still pending reloads every 3 s; after this many reloads (about two
# minutes) it stops and says the email will follow, instead of polling for ever.
THANKS_MAX_CHECKS = 40
_COUNTER = re.compile(r"[0-9]{1,3}")
# A gift's uuid as our links carry it (with or without dashes, any case).
_UUID = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")


def _see_other(url: str) -> HttpResponseRedirect:
    """303: after a POST the browser follows with a GET (to Stripe, or back to the page)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


# --- donate ---------------------------------------------------------------------------------


@never_cache  # each render carries its own form token: a cached page would share one
@require_http_methods(["GET", "HEAD", "POST"])  # HEAD: as GET, without a body
def donate(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _donate_post(request)
    initial, notice = _initial_from_query(request.GET)
    form = DonateForm(initial=initial, news_text=news_text_for(None, _language()))
    return _donate_render(request, form, notice=notice)


def _language() -> str:
    return (translation.get_language() or settings.LANGUAGE_CODE)[:2]


def _donate_post(request: HttpRequest) -> HttpResponse:
    form = DonateForm(request.POST, news_text=news_text_for(request.POST, _language()))
    ip = client_ip(request)
    if form.is_bot:
        blocked_log(Block.HONEYPOT, ip=ip)
        return render(request, "donations/received.html")  # polite, 200, nothing stored
    if ip_blocked(ip):
        blocked_log(Block.DECLINES, ip=ip)
        return _donate_refused(request, form)
    if not form.is_valid():
        if form.has_error("amount", "min_amount") or form.has_error("other_amount", "min_amount"):
            blocked_log(Block.MIN_AMOUNT, ip=ip)  # tiny probes are a card tester's signature
        return _donate_render(request, form)
    gift = form.gift_request(language=_language())
    token = form.request_token(gift)
    donation = Donation.objects.filter(request_token=token).first()
    if donation is None:
        # Only a new checkout spends the budgets: a double click reuses the first one.
        reason = checkout_rate_limited(request, email=gift.email)
        if reason is not None:
            blocked_log(reason, ip=ip, email=gift.email)
            return _donate_refused(request, form)
        donation = _donation_create_once(request, form, gift, token=token, ip=ip)
    if donation.status != DonationStatus.PENDING:
        # The same form again after the gift went through (or failed): show how it went.
        return _see_other(_thanks_path(donation))
    try:
        url = checkout_start(donation=donation)
    except stripe_api.StripeError as exc:
        log.warning("donations.checkout_failed", donation=str(donation.uuid), error=str(exc))
        return _donate_again(request, _STRIPE_FAILED)
    if not url:
        # This form's session expired (a tab left open overnight): the same form starts anew.
        log.info("donations.checkout_session_closed", donation=str(donation.uuid))
        return _donate_again(request, _SESSION_CLOSED)
    log.info("donations.checkout_started", donation=str(donation.uuid))
    return _see_other(url)


def _donation_create_once(
    request: HttpRequest, form: DonateForm, gift: GiftRequest, *, token: str, ip: str | None
) -> Donation:
    """Two submits of one form racing each other: the unique token lets one row win, and the
    loser's news sign-up rolls back with its donation."""
    try:
        with transaction.atomic():
            supporter_id = _news_sign_up(request, form, gift, ip=ip)
            return donation_create(
                request=gift, supporter_id=supporter_id, request_token=token, client_ip=ip
            )
    except IntegrityError:
        return Donation.objects.get(request_token=token)


def _news_sign_up(
    request: HttpRequest, form: DonateForm, gift: GiftRequest, *, ip: str | None
) -> int | None:
    """Ticked news: the campaign's double opt-in, with the wording shown as the evidence.
    Nothing is sent until the donor confirms from the email campaign sends."""
    if not gift.news_opt_in or form.news_wording is None:
        return None
    supporter = supporter_sign_up(
        email=gift.email,
        first_name="",  # the donor gave a full name for the receipt, not a greeting name
        language=gift.language,
        texts={Topic.DONOR_NEWS: form.news_wording},
        evidence=Evidence.from_values(
            method=Consent.Method.FORM, ip=ip, user_agent=request.headers.get("User-Agent", "")
        ),
        source=SignupSource(
            page=request.path[: SOURCE_LIMITS["source_page"]],
            referrer=request.headers.get("Referer", "")[: SOURCE_LIMITS["referrer"]],
            **{key: gift.utm.get(key, "") for key in UTM_FIELDS},
        ),
    )
    return supporter.pk


def _donate_refused(request: HttpRequest, form: DonateForm) -> HttpResponse:
    form.is_valid()  # errors render next to the polite message, values stay in the form
    message = _(
        "We cannot start another payment from your connection right now. This protects "
        "donors against misuse of stolen cards. Please try again later, or contact us if "
        "you keep seeing this message."
    )
    return _donate_render(request, form, error=message, status=429)


_STRIPE_FAILED = gettext_lazy(
    "We could not reach our payment provider. Nothing has been charged. Please try again in "
    "a moment."
)
_SESSION_CLOSED = gettext_lazy(
    "This payment page has expired. Nothing has been charged. Please check your gift and "
    "continue to payment again."
)


def _donate_again(request: HttpRequest, message: Any) -> HttpResponse:
    """The form as the donor sent it, with a fresh token: a retry must be a new gift, as
    Stripe replays the failed (or closed) answer for the old idempotency key."""
    data = request.POST.copy()
    data["form_token"] = form_token_new()
    form = DonateForm(data, news_text=news_text_for(data, _language()))
    form.is_valid()
    status = 503 if message is _STRIPE_FAILED else 409
    return _donate_render(request, form, error=str(message), status=status)


def _donate_render(
    request: HttpRequest,
    form: DonateForm,
    *,
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> HttpResponse:
    shown = form.shown_amount()
    context = {
        "form": form,
        "error": error,
        "notice": notice,
        "shown_amount": shown,
        "min_amount": settings.DONATION_MIN_CENTS,
        "max_amount": settings.DONATION_MAX_CENTS,
        "fee_lines": fee_lines(shown),
        "fee_table": [(cents, fee_lines(cents)) for cents in settings.DONATION_PRESETS_CENTS],
        "config_json": json.dumps(
            {
                "fees": settings.DONATION_FEES,
                "min": settings.DONATION_MIN_CENTS,
                "max": settings.DONATION_MAX_CENTS,
                "monthly_methods": [str(method) for method in MONTHLY_METHODS],
                "one_off_methods": [str(method) for method in ONE_OFF_METHODS],
            }
        ),
    }
    return render(request, "donations/donate.html", context, status=status)


def _initial_from_query(query: QueryDict) -> tuple[dict[str, Any], str]:
    """Attribution from an email link, and the gift again after a cancel or a failure."""
    initial: dict[str, Any] = {"source": query.get("source", "")}
    initial.update({key: query[key] for key in UTM_FIELDS if query.get(key)})
    notice = ""
    for param, text in (
        ("cancelled", _("You cancelled the payment. Nothing has been charged.")),
        ("retry", _("Your payment did not go through. Nothing has been charged.")),
    ):
        earlier = _donation_by_param(query.get(param, ""))
        if earlier is not None:
            initial.update(_gift_initial(earlier))
            notice = text
    return initial, notice


def _donation_by_param(value: str) -> Donation | None:
    # Checked before the query: a hand-edited link ("-1", a 5000-character value) is simply
    # no earlier gift (the uuid field's own check raises ValidationError, not ValueError).
    if not _UUID.fullmatch(value):
        return None
    return Donation.objects.filter(uuid=uuid.UUID(value)).first()


def _gift_initial(donation: Donation) -> dict[str, Any]:
    """The earlier gift's choices, without its personal data (the uuid sits in a URL)."""
    cents = donation.amount - donation.fee_cover
    is_preset = cents in settings.DONATION_PRESETS_CENTS
    return {
        "frequency": donation.frequency,
        "method": donation.method,
        "cover_fee": donation.fee_cover > 0,
        "amount": str(cents) if is_preset else OTHER,
        "other_amount": "" if is_preset else _euros_plain(cents),
        "source": donation.source_token,
        **{key: value for key, value in donation.utm.items() if key in UTM_FIELDS},
    }


def _euros_plain(cents: int) -> str:
    return formats.number_format(Decimal(cents) / 100, decimal_pos=2, use_l10n=True)


# --- thank you ------------------------------------------------------------------------------


def _thanks_path(donation: Donation) -> str:
    return reverse("donations:thanks", kwargs={"donation_uuid": donation.uuid})


def _thanks_state(donation: Donation) -> str:
    """What the page says: only our database decides, never the query string."""
    status = DonationStatus(donation.status)
    if status == DonationStatus.PENDING:
        return "waiting"
    if status in {DonationStatus.REFUNDED, DonationStatus.PARTIALLY_REFUNDED}:
        return "refunded"
    return {
        DonationStatus.PROCESSING: "processing",
        DonationStatus.FAILED: "failed",
        DonationStatus.EXPIRED: "expired",
    }.get(status, "paid")


def _checks_done(request: HttpRequest) -> int:
    checks = request.GET.get("check", "0")
    # Bounded before int(): only our own counter (0..THANKS_MAX_CHECKS) is ever in the link.
    return min(int(checks), THANKS_MAX_CHECKS) if _COUNTER.fullmatch(checks) else 0


@never_cache
@require_http_methods(["GET", "HEAD"])
def thanks(request: HttpRequest, donation_uuid: str) -> HttpResponse:
    donation = get_object_or_404(Donation.objects.select_related("recurring"), uuid=donation_uuid)
    state = _thanks_state(donation)
    checks = _checks_done(request)
    refresh_url = ""
    if state == "waiting" and checks < THANKS_MAX_CHECKS:
        query = request.GET.copy()
        query["check"] = str(checks + 1)
        refresh_url = f"{request.path}?{query.urlencode()}"
    context = {
        "donation": donation,
        "state": state,
        "monthly": donation.frequency == Frequency.MONTHLY,
        "refresh_url": refresh_url,
        "gave_up_waiting": state == "waiting" and not refresh_url,
        "retry_url": reverse("donations:donate") + "?" + urlencode({"retry": donation.uuid}),
    }
    return render(request, "donations/thanks.html", context)


# --- manage a monthly gift ------------------------------------------------------------------

_Change = Callable[..., RecurringDonation]
_STATE_ACTIONS: dict[str, tuple[_Change, Any]] = {
    "pause": (
        recurring_services.recurring_pause,
        gettext_lazy("Your monthly gift is paused. Nothing will be collected until you resume it."),
    ),
    "resume": (
        recurring_services.recurring_resume,
        gettext_lazy("Your monthly gift continues. Thank you!"),
    ),
    "cancel": (
        recurring_services.recurring_cancel,
        gettext_lazy(
            "Your monthly gift has stopped. Nothing more will be collected. Thank you for "
            "everything you gave."
        ),
    ),
}


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])  # HEAD: as GET, without a body
def manage(request: HttpRequest, token: str) -> HttpResponse:
    try:
        gift = recurring_services.recurring_from_token(token)
    except recurring_services.LinkInvalid as exc:
        return _link_invalid(request, exc)
    if request.method == "POST":
        return _manage_post(request, gift)
    return _manage_render(request, gift, AmountForm())


def _link_invalid(request: HttpRequest, exc: recurring_services.LinkInvalid) -> HttpResponse:
    expired = isinstance(exc, recurring_services.LinkExpired)
    status = 404 if isinstance(exc, recurring_services.LinkUnknown) else 400
    log.info("donations.manage_link_refused", reason=type(exc).__name__)
    context = {"expired": expired, "max_age_days": settings.RECURRING_LINK_MAX_AGE_DAYS}
    return render(request, "donations/link_invalid.html", context, status=status)


def _manage_post(request: HttpRequest, gift: RecurringDonation) -> HttpResponse:
    action = request.POST.get("action", "")
    form = AmountForm(request.POST if action == "amount" else None)
    try:
        if action == "amount":
            if not form.is_valid():
                return _manage_render(request, gift, form)
            new_amount = form.cleaned_data["amount"]
            recurring_services.recurring_change_amount(recurring=gift, amount=new_amount)
            done = _("Your monthly gift is now %(amount)s.") % {"amount": euros(new_amount)}
        elif action in _STATE_ACTIONS:
            change, text = _STATE_ACTIONS[action]
            change(recurring=gift)
            done = str(text)
        else:
            return _manage_render(request, gift, form, status=400)
    except recurring_services.ChangeRefused:
        gift.refresh_from_db()
        return _manage_render(request, gift, form, error=_refusal(gift, action), status=409)
    except stripe_api.StripeError as exc:
        log.warning(
            "donations.manage_failed", recurring=str(gift.uuid), action=action, error=str(exc)
        )
        message = _(
            "We could not reach our payment provider, so nothing has changed. Please "
            "try again in a moment."
        )
        return _manage_render(request, gift, form, error=message, status=503)
    log.info("donations.recurring_changed", recurring=str(gift.uuid), action=action)
    messages.success(request, done)
    return _see_other(request.path)


def _refusal(gift: RecurringDonation, action: str) -> str:
    """A ChangeRefused in the donor's words, from the state that caused it."""
    if gift.state in {RecurringState.CANCELLED, RecurringState.LAPSED}:
        return _(
            "Your monthly gift has ended, so it can no longer be changed. You are "
            "welcome to start a new one."
        )
    if gift.state == RecurringState.PENDING or not gift.stripe_subscription:
        return _(
            "Your monthly gift has not started yet. Please try again once your first "
            "payment has been confirmed."
        )
    if action == "resume":
        return _("Only a paused monthly gift can be resumed.")
    if action == "pause":
        return _("Only a running monthly gift can be paused.")
    return _("This change is not possible for your monthly gift right now.")


def _manage_render(
    request: HttpRequest,
    gift: RecurringDonation,
    form: AmountForm,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    state = RecurringState(gift.state)
    context = {
        "gift": gift,
        "form": form,
        "error": error,
        "running": state in {RecurringState.ACTIVE, RecurringState.PAST_DUE},
        "paused": state == RecurringState.PAUSED,
        "ended": state in {RecurringState.CANCELLED, RecurringState.LAPSED},
        "not_started": state == RecurringState.PENDING,
    }
    return render(request, "donations/manage.html", context, status=status)
