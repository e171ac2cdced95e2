from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.utils.translation import pgettext_lazy

from campaign.supporter_views import unsubscribe_one_click
from config.api import api
from config.demo_mailbox_views import mail_detail, mail_html, mailbox
from config.health import healthz
from config.metrics import metrics
from donations.webhook import stripe_webhook
from mailing.bounce_views import bounce_inbound
from mailing.tracking import click_redirect


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    # Browsers and feed readers ask for /favicon.ico whatever the page links: the SVG mark.
    return HttpResponsePermanentRedirect(static("campaign/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("healthz", healthz, name="healthz"),
    # Prometheus (config/metrics.py): a bearer token or an allowed address, else 404.
    path("metrics", metrics, name="metrics"),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    # django-otp-webauthn's JSON endpoints for the passkey ceremonies (backoffice/sites.py);
    # before the admin, whose catch-all would otherwise answer under the same prefix.
    path(f"{settings.ADMIN_PATH}passkeys/", include("django_otp_webauthn.urls")),
    path(settings.ADMIN_PATH, admin.site.urls),
    path("api/", api.urls),
    # The RFC 8058 one-click unsubscribe URL in every email's List-Unsubscribe header: outside
    # the language prefixes, so it never changes with the page language.
    path("u/<str:token>/", unsubscribe_one_click, name="supporter_unsubscribe"),
    # Tracked links in marketing email: record a person's click, redirect (mailing/tracking.py).
    path("r/<str:token>/<int:index>/", click_redirect, name="mailing_click"),
    # The ESP's webhooks through django-anymail: bounces and complaints (mailing/esp_events.py)
    # and inbound mail to the mailto: unsubscribe address (campaign/inbound_mail.py). Only the
    # ESPs whose webhooks are configured (config/esp_webhooks.py); any other answers 404.
    path("anymail/", include("config.esp_webhooks")),
    # DSNs for the VERP bounce address, posted raw by the MTA (mailing/bounce_views.py).
    path("mailing/bounces/", bounce_inbound, name="mailing_bounce_inbound"),
    # The demo's emails in the browser; 404 unless the run command started the demo mailbox.
    path("demo/mailbox/", mailbox, name="demo_mailbox"),
    path("demo/mailbox/<str:name>/", mail_detail, name="demo_mail"),
    path("demo/mailbox/<str:name>/html/", mail_html, name="demo_mail_html"),
    # set_language (POST): the back office's language switch in the account menu.
    path("i18n/", include("django.conf.urls.i18n")),
]
urlpatterns += i18n_patterns(
    # /doneer/ in Dutch, /en/donate/ in English.
    path(pgettext_lazy("url", "donate/"), include("donations.urls")),
    path("", include("campaign.urls")),
    prefix_default_language=False,
)

handler404 = "campaign.views.not_found"
# 503 with Retry-After while PostgreSQL is down, else Django's own 500 (config/outage_pages.py).
handler500 = "config.outage_pages.server_error"
