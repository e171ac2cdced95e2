from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import pgettext_lazy

from campaign.supporter_views import unsubscribe_one_click
from config.api import api
from config.health import healthz
from donations.webhook import stripe_webhook
from mailing.tracking import click_redirect

urlpatterns = [
    path("healthz", healthz, name="healthz"),
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
]
urlpatterns += i18n_patterns(
    # /doneer/ in Dutch, /en/donate/ in English.
    path(pgettext_lazy("url", "donate/"), include("donations.urls")),
    path("", include("campaign.urls")),
    prefix_default_language=False,
)

handler404 = "campaign.views.not_found"
