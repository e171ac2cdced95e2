from urllib.parse import urlsplit

from django.utils.csp import CSP

from config.env import EnvError, env_str

from .anymail import ANYMAIL, DEV_WEBHOOK_SECRET
from .base import DEBUG, PRODUCTION, SITE_URL
from .stripe import STRIPE_API_BASE

# Not a secret: a marker value that production refuses (checked below).
_DEV_SECRET = "insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)

if PRODUCTION:
    if SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 32:
        raise EnvError(
            "SECRET_KEY", "must be set to a random value of 32+ characters in production"
        )
    if DEBUG:
        raise EnvError("DEBUG", "must be off in production (APP_ENV=production)")
    if not SITE_URL.startswith("https://"):
        raise EnvError("SITE_URL", "must use https:// in production")
    if ANYMAIL["WEBHOOK_SECRET"] == DEV_WEBHOOK_SECRET:
        raise EnvError("ANYMAIL_WEBHOOK_SECRET", "must be set to user:password in production")

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
CSRF_TRUSTED_ORIGINS = [SITE_URL]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None

# The donate form's POST answers with a redirect to Stripe Checkout, and browsers hold that
# redirect to form-action too. A local Stripe-speaking server (STRIPE_API_BASE) hosts its own
# checkout page, so its origin is allowed as well.
_CHECKOUT_ORIGINS = ["https://checkout.stripe.com"]
if STRIPE_API_BASE:
    _api = urlsplit(STRIPE_API_BASE)
    _CHECKOUT_ORIGINS.append(f"{_api.scheme}://{_api.netloc}")

# Django 6's built-in CSP: no inline script or style without the per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "form-action": [CSP.SELF, *_CHECKOUT_ORIGINS],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
