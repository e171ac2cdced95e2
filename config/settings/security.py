from urllib.parse import urlsplit

from django.utils.csp import CSP

from config.env import EnvError, env_bool, env_int, env_list, env_str, require_strong_secret

from .base import DEBUG, PRODUCTION, SITE_URL
from .proxy import TRUSTED_PROXY_COUNT
from .stripe import STRIPE_API_BASE

# Not a secret: a marker value that production refuses (checked below).
_DEV_SECRET = "insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)
# Old keys still accepted for signatures (never used to sign): set the old key here when
# rotating SECRET_KEY, so links in emails already sent keep working (docs/operations.md).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

if PRODUCTION:
    if SECRET_KEY == _DEV_SECRET:
        raise EnvError("SECRET_KEY", "must be set to a random value in production")
    # Every signed link (confirmation, unsubscribe, gift management) is only as strong as this.
    # 50 characters is what Django's own deploy check (security.W009) asks for.
    require_strong_secret("SECRET_KEY", SECRET_KEY, min_length=50, min_bits=128)
    if DEBUG:
        raise EnvError("DEBUG", "must be off in production (APP_ENV=production)")
    if not SITE_URL.startswith("https://"):
        raise EnvError("SITE_URL", "must use https:// in production")

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
LANGUAGE_COOKIE_SECURE = PRODUCTION
CSRF_TRUSTED_ORIGINS = [SITE_URL]
# The TLS proxy says the request came over https; trusted only when a proxy is configured (with
# none, a client could send the header itself).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION and TRUSTED_PROXY_COUNT else None
)

# Production answers plain http with a redirect to https, except the health check, which load
# balancers and probes call over plain http inside the network (SECURE_REDIRECT_EXEMPT: regular
# expressions on the path without its leading slash).
SECURE_SSL_REDIRECT = PRODUCTION
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]  # metrics: a scraper inside the network
# HSTS: browsers use only https for this long after one visit. A year is what the preload list
# requires; lower it (e.g. to 300) while first trying https on a new domain. includeSubDomains
# always (every subdomain of a charity's domain should be https). Preload asks browsers to ship
# the domain as https-only, which is hard to undo: on by default as hstspreload.org requires
# for submission, SECURE_HSTS_PRELOAD=0 leaves it out.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0) if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
# Leaving preload out is a choice, not an oversight: Django's deploy check need not warn of it.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

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
