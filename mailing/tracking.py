"""Click tracking: links in marketing email go through /r/<token>/<n>/, which records a person's
first click on link n of that email and redirects (302) to the link's target.

The token is the ledger row and the language, signed (one HMAC per email, whatever its number
of links); n indexes the message version's link table (rendering.Parts.links), so the redirect
can only lead where the email itself led. The donate link keeps its signed source token, so a
gift after a tracked click is still credited to the email.

Mail scanners (Microsoft Safe Links, Proofpoint, Mimecast, ...) fetch every link of a message
before the person sees it. They get the same redirect, but are not counted. The rule: a click
counts only for a GET whose user agent starts "Mozilla/" (every browser's does), names none of
the known robots, scanners and headless browsers in _AUTOMATED, and whose Accept header asks for
HTML. So HEAD requests, scripts, link checkers and headless Chromium never count; a scanner that
copies a real browser exactly does, which no server-side rule can tell apart
(tests/campaign/test_link_scanners.py lists the scanners tested). The
unsubscribe and preference links are never behind this redirect, and it changes nothing but
the click table, so no fetch of any link can unsubscribe anyone.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core import signing
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_safe

from campaign.tokens import LinkSigner, link_signer
from mailing import services
from mailing.models import Click, Delivery
from mailing.rendering import links_for, placeholder

CLICK_SALT = "mailing.click"
_DONATE_SLOT = placeholder("donate_url")
# Automated fetchers by user agent; a browser's says "Mozilla/5.0 (...)" and names no robot.
_AUTOMATED = re.compile(
    r"bot|crawl|spider|scan|preview|monitor|fetch|python|curl|wget|java/|okhttp|go-http|"
    r"headless|phantom|barracuda|mimecast|proofpoint|safelinks|urldefense|forcepoint|"
    r"ms-office|microsoft office|outlook|office 365|defender|facebookexternalhit|"
    # Google's fetchers name themselves "Google-<Something>"; Gmail's proxy says GoogleImageProxy.
    r"google-|googleimageproxy|ggpht",
    re.IGNORECASE,
)


def click_base(delivery_id: int, language: str) -> str:
    """The per-email part of every tracked link: <site>/r/<token> (config/urls.py routes
    r/<token>/<n>/ here; built by hand, as reverse() per recipient costs more than the rest)."""
    token = LinkSigner(salt=CLICK_SALT).sign(f"{delivery_id}.{language}")
    return f"{settings.SITE_URL}/r/{token}"


def click_token_read(token: str) -> tuple[int, str] | None:
    try:
        value = link_signer(token, salt=CLICK_SALT).unsign(token)
    except signing.BadSignature:
        return None
    delivery, _, language = value.partition(".")
    if not delivery.isdigit() or language not in ("nl", "en"):
        return None
    return int(delivery), language


def donate_url(language: str, delivery_id: int) -> str:
    with translation.override(language):
        path = reverse("donations:donate")
    return f"{settings.SITE_URL}{path}?source={services.source_token(delivery_id)}"


def looks_like_a_person(request: HttpRequest) -> bool:
    """A browser asking for a page: GET, a browser's user agent, HTML acceptable."""
    agent = request.headers.get("User-Agent", "")
    return (
        request.method == "GET"
        and agent.startswith("Mozilla/")
        and not _AUTOMATED.search(agent)
        and "text/html" in request.headers.get("Accept", "")
    )


def click_record(*, delivery_id: int, link: int, url: str) -> bool:
    """Once per email and link: a second click (or a reload) changes nothing."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Click._meta.db_table} (delivery_id, link, url, clicked_at) "  # noqa: S608
            "VALUES (%s, %s, %s, now()) ON CONFLICT (delivery_id, link) DO NOTHING",
            [delivery_id, link, url[:2000]],
        )
        return cursor.rowcount == 1


@require_safe
def click_redirect(request: HttpRequest, token: str, index: int) -> HttpResponse:
    claim = click_token_read(token)
    if claim is None:
        raise Http404("unknown link")
    delivery_id, language = claim
    delivery = Delivery.objects.filter(pk=delivery_id).only("id", "message_id").first()
    if delivery is None:
        raise Http404("unknown link")
    links = links_for(delivery.message_id, language)
    if index >= len(links):
        raise Http404("unknown link")
    target = links[index]
    if target.startswith(_DONATE_SLOT):
        target = donate_url(language, delivery_id) + target[len(_DONATE_SLOT) :]
    if looks_like_a_person(request):
        click_record(delivery_id=delivery_id, link=index, url=target)
    return HttpResponseRedirect(target)
