from config.env import EnvError, env_str

from .base import PRODUCTION

# The ESP's webhooks (bounces, complaints, inbound mail) authenticate with HTTP basic auth,
# "user:password", configured the same at the ESP. https://anymail.dev/en/stable/tips/securing_webhooks/
_DEV_WEBHOOK_SECRET = "anymail:development-only-secret"  # noqa: S105 - refused in production
ANYMAIL = {"WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET", _DEV_WEBHOOK_SECRET)}
if PRODUCTION and ANYMAIL["WEBHOOK_SECRET"] == _DEV_WEBHOOK_SECRET:
    raise EnvError("ANYMAIL_WEBHOOK_SECRET", "must be set to user:password in production")
