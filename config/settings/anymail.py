from config.env import EnvError, env_str, require_strong_secret

from .base import PRODUCTION
from .mailing import MAILING_TRANSPORT

# The ESP's webhooks (bounces, complaints, inbound mail) authenticate with HTTP basic auth,
# "user:password", configured the same at the ESP (production refuses the development value,
# see security.py). https://anymail.dev/en/stable/tips/securing_webhooks/
DEV_WEBHOOK_SECRET = "anymail:development-only-secret"  # noqa: S105 - refused in production
ANYMAIL = {"WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)}

# Mailgun signs every webhook call (HMAC-SHA256 of timestamp + token) with the domain's "HTTP
# webhook signing key" (Mailgun: Sending > Webhooks). Without it anymail's Mailgun views cannot
# verify anything, so config/esp_webhooks.py routes them only when it is set. Production with
# Mailgun as the transport requires it: otherwise bounces and complaints are never recorded.
# https://anymail.dev/en/stable/esps/mailgun/#mailgun-webhooks
# Development only: production has no default.
DEV_MAILGUN_SIGNING_KEY = "development-only-mailgun-signing-key"
MAILGUN_WEBHOOK_SIGNING_KEY = env_str(
    "MAILGUN_WEBHOOK_SIGNING_KEY", "" if PRODUCTION else DEV_MAILGUN_SIGNING_KEY
)
if MAILGUN_WEBHOOK_SIGNING_KEY:
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = MAILGUN_WEBHOOK_SIGNING_KEY

if PRODUCTION:
    _user, _colon, _password = ANYMAIL["WEBHOOK_SECRET"].partition(":")
    if ANYMAIL["WEBHOOK_SECRET"] == DEV_WEBHOOK_SECRET or not (_user and _colon):
        raise EnvError("ANYMAIL_WEBHOOK_SECRET", "must be set to user:password in production")
    require_strong_secret("ANYMAIL_WEBHOOK_SECRET", _password, min_length=20, min_bits=80)
    if MAILING_TRANSPORT == "anymail" and not MAILGUN_WEBHOOK_SIGNING_KEY:
        raise EnvError(
            "MAILGUN_WEBHOOK_SIGNING_KEY",
            "is required in production with MAILING_TRANSPORT=anymail",
        )
    if MAILGUN_WEBHOOK_SIGNING_KEY:
        require_strong_secret(
            "MAILGUN_WEBHOOK_SIGNING_KEY", MAILGUN_WEBHOOK_SIGNING_KEY, min_length=20, min_bits=80
        )
