"""The staff back office (issue #6): second factor, theme, navigation, sessions, login limits."""

from pathlib import Path
from urllib.parse import urlsplit

from django.templatetags.static import static
from django.urls import reverse_lazy
from django.utils.csp import CSP
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from backoffice.navigation import can
from config.env import env_int, env_str

from .base import BASE_DIR, SITE_URL
from .security import SECURE_CSP

StrOrPromise = str | Promise

# Staff sessions end after this much inactivity: every request pushes the expiry forward.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True

# Failed staff log-ins (django-ratelimit syntax), per client address and per username.
BACKOFFICE_RATE_LOGIN_IP = env_str("BACKOFFICE_RATE_LOGIN_IP", "20/15m")
BACKOFFICE_RATE_LOGIN_USER = env_str("BACKOFFICE_RATE_LOGIN_USER", "5/15m")

# Finance exports made in the background (backoffice/exports.py). The files hold donors' names
# and emails: they live outside MEDIA_ROOT, are never served as static or media files, and
# only the download view (Finance role) reads them. Deleted this many hours after they are
# ready (AVG data minimisation); the job row stays as the record of who exported what.
EXPORT_FILES_ROOT = Path(
    env_str("EXPORT_FILES_ROOT", str(BASE_DIR / "var" / "private" / "exports"))
)
EXPORT_FILE_HOURS = env_int("EXPORT_FILE_HOURS", 24, minimum=1)
# Progress is written to the job row once per this many rows: a few writes per export.
EXPORT_PROGRESS_ROWS = env_int("EXPORT_PROGRESS_ROWS", 5000, minimum=1)

# The name authenticator apps show next to the code.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Save the Survivors")

# Passkeys (django-otp-webauthn) as a second factor after the password, never instead of it.
# A passkey is bound to a domain, the relying party ID: the host of SITE_URL. Browsers offer
# WebAuthn only on https:// or on http://localhost (never on an IP address), so a plain-http
# development site uses localhost: open the back office at http://localhost:8000 for passkeys.
# Changing the domain later orphans every passkey registered so far.
# https://django-otp-webauthn.readthedocs.io/en/latest/reference/settings.html
_site = urlsplit(SITE_URL)
if _site.scheme == "https" and _site.hostname:
    OTP_WEBAUTHN_RP_ID = _site.hostname
    OTP_WEBAUTHN_ALLOWED_ORIGINS = [SITE_URL]
else:
    OTP_WEBAUTHN_RP_ID = "localhost"
    OTP_WEBAUTHN_ALLOWED_ORIGINS = [f"http://localhost{f':{_site.port}' if _site.port else ''}"]
OTP_WEBAUTHN_RP_NAME = OTP_TOTP_ISSUER
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False

# The staff pages' CSP (backoffice.middleware): the public policy plus what unfold's Alpine.js
# needs. style-src has no nonce here, because a nonce would make browsers ignore unsafe-inline.
BACKOFFICE_CSP = {
    **SECURE_CSP,
    "script-src": [CSP.SELF, CSP.NONCE, CSP.UNSAFE_EVAL],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
}


def _item(title: StrOrPromise, icon: str, model: str) -> dict[str, object]:
    app_label, model_name = model.split(".")
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(f"admin:{app_label}_{model_name}_changelist"),
        # Shown only to who may open it; the page itself checks the same permission (403).
        "permission": can(f"{app_label}.view_{model_name}"),
    }


def _demo_mailbox_on(request: object) -> bool:
    from django.conf import settings

    return bool(settings.DEMO_MAILBOX_DIR)


def _page(title: StrOrPromise, icon: str, url_name: str) -> dict[str, object]:
    """A Finance page of our own: open to who may see export jobs (the views check the same)."""
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(f"admin:{url_name}"),
        "permission": can("backoffice.view_exportjob"),
    }


UNFOLD = {
    "SITE_TITLE": _("Save the Survivors back office"),
    "SITE_HEADER": _("Save the Survivors"),
    "SITE_SUBHEADER": _("Save the Children NL"),
    "SITE_SYMBOL": "volunteer_activism",
    # Nederlands / English in the account menu: Django's set_language sets the language
    # cookie, which the staff pages follow (backoffice.middleware.StaffLanguageMiddleware).
    "SHOW_LANGUAGES": True,
    # The campaign's own mark (campaign/static/campaign/favicon.svg) in the tab and sidebar.
    "SITE_ICON": lambda request: static("campaign/favicon.svg"),
    "SITE_FAVICONS": [
        {
            "rel": "icon",
            "type": "image/svg+xml",
            "href": lambda request: static("campaign/favicon.svg"),
        }
    ],
    "SITE_URL": "/",
    # Accessible names for the fields the admin's widgets leave unnamed, and contrast fixes
    # (backoffice/a11y.js, backoffice/a11y.css).
    "SCRIPTS": [lambda request: static("backoffice/a11y.js")],
    "STYLES": [lambda request: static("backoffice/a11y.css")],
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": True,
    # The account menu: one's own sign-in devices (passkeys, apps, recovery codes), password.
    "ACCOUNT": {
        "navigation": [
            {"title": _("Security"), "link": reverse_lazy("admin:security")},
            {"title": _("Change password"), "link": reverse_lazy("admin:password_change")},
        ],
    },
    "COLORS": {
        # Save the Children red as the primary colour.
        "primary": {
            "50": "oklch(97.1% .013 17.38)",
            "100": "oklch(93.6% .032 17.717)",
            "200": "oklch(88.5% .062 18.334)",
            "300": "oklch(80.8% .114 19.571)",
            "400": "oklch(70.4% .191 22.216)",
            "500": "oklch(63.7% .237 25.331)",
            # 600 is the theme's text and button shade: dark enough for 4.5:1 on the light
            # grey of an active menu item (axe-core, WCAG 2.1 AA), one step darker than
            # Tailwind's red-600.
            "600": "oklch(50.5% .213 27.518)",
            "700": "oklch(44.4% .177 26.899)",
            "800": "oklch(39.6% .141 25.723)",
            "900": "oklch(33% .115 25.9)",
            "950": "oklch(25.8% .092 26.042)",
        },
    },
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        # Organised by what staff do, not by Django app.
        "navigation": [
            {
                "title": _("Stories"),
                "items": [
                    _item(_("Stories"), "auto_stories", "campaign.story"),
                    _item(_("Campaigns"), "campaign", "campaign.campaign"),
                ],
            },
            {
                "title": _("Mailings"),
                "items": [
                    _item(_("Mailings"), "mail", "mailing.mailing"),
                    _item(_("Sequences"), "schedule_send", "mailing.sequence"),
                    _item(_("Segments"), "group_work", "mailing.segment"),
                    _item(_("Suppressed addresses"), "block", "mailing.suppression"),
                ],
            },
            {
                "title": _("Supporters"),
                "items": [
                    _item(_("Supporters"), "people", "campaign.supporter"),
                    _item(_("Consent wording"), "gavel", "campaign.consenttext"),
                    _item(_("Consent history"), "history", "campaign.supporteraudit"),
                ],
            },
            {
                "title": _("Finance"),
                "items": [
                    _item(_("Gifts"), "payments", "donations.donation"),
                    _item(_("Monthly gifts"), "autorenew", "donations.recurringdonation"),
                    _item(_("Ledger"), "account_balance", "donations.transaction"),
                    _item(_("Payout lines"), "receipt_long", "donations.payoutline"),
                    _item(_("Campaigns of Stripe links"), "link", "donations.stripecampaign"),
                    _item(_("Stripe events"), "webhook", "donations.stripeevent"),
                    _item(_("Donor emails"), "mark_email_read", "donations.donornotice"),
                    _item(_("Annual statements"), "description", "donations.statementrun"),
                    _item(
                        _("Periodic gift agreements"),
                        "handshake",
                        "donations.periodicgiftagreement",
                    ),
                    # Pages of their own (backoffice/export_views.py), not model lists.
                    _page(_("Monthly summary"), "summarize", "finance_summary"),
                    _page(_("Payouts"), "account_balance_wallet", "finance_payouts"),
                    _page(_("Exports"), "download", "finance_exports"),
                ],
            },
            {
                "title": _("Staff"),
                "items": [
                    _item(_("Staff accounts"), "badge", "auth.user"),
                    _item(_("Roles"), "admin_panel_settings", "auth.group"),
                    _item(_("Authenticator apps"), "phonelink_lock", "otp_totp.totpdevice"),
                    _item(_("Recovery codes"), "key", "otp_static.staticdevice"),
                    _item(_("Passkeys"), "fingerprint", "django_otp_webauthn.webauthncredential"),
                    # Every change to money, mail, consent and staff (backoffice/audit.py).
                    _item(_("Audit log"), "manage_search", "auditlog.logentry"),
                ],
            },
            {
                "title": _("Demo"),
                "items": [
                    {
                        # The demo's emails (config/demo_mailbox_views.py); only in the demo.
                        "title": _("Demo mailbox"),
                        "icon": "inbox",
                        "link": "/demo/mailbox/",
                        "permission": _demo_mailbox_on,
                    }
                ],
            },
        ],
    },
}
