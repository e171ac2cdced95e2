"""The ESP webhook routes we serve, instead of all of anymail.urls.

anymail.urls routes every ESP anymail knows; one whose credentials are not configured (Amazon
SES, or Mailgun without its signing key) fails in the view's constructor and answers 500 to
anyone who calls it. Here only ESPs we can verify are routed; the rest answer 404.

- Postmark: HTTP basic auth (ANYMAIL_WEBHOOK_SECRET) is its only protection, and we require it.
- Mailgun: basic auth plus its HMAC signature, with MAILGUN_WEBHOOK_SIGNING_KEY
  (config/settings/anymail.py); routed only when that key is set.
"""

from __future__ import annotations

from anymail.webhooks.mailgun import MailgunInboundWebhookView, MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView, PostmarkTrackingWebhookView
from django.conf import settings
from django.urls import URLPattern, path, re_path

app_name = "anymail"

urlpatterns: list[URLPattern] = [
    path(
        "postmark/inbound/",
        PostmarkInboundWebhookView.as_view(),
        name="postmark_inbound_webhook",
    ),
    path(
        "postmark/tracking/",
        PostmarkTrackingWebhookView.as_view(),
        name="postmark_tracking_webhook",
    ),
]

if settings.MAILGUN_WEBHOOK_SIGNING_KEY:
    urlpatterns += [
        path(
            "mailgun/tracking/",
            MailgunTrackingWebhookView.as_view(),
            name="mailgun_tracking_webhook",
        ),
        # Mailgun posts inbound mail as parsed fields, or as the raw MIME message when the URL
        # contains "mime" (anymail's own pattern).
        re_path(
            r"^mailgun/inbound(_mime)?/$",
            MailgunInboundWebhookView.as_view(),
            name="mailgun_inbound_webhook",
        ),
    ]
