"""Supporters: double opt-in, one-click unsubscribe, rate limits (campaign/ sign-up)."""

from config.env import env_int, env_str

from .email import DEFAULT_FROM_EMAIL

# The confirmation link of the double opt-in expires after this many days (issue #3).
SUPPORTERS_CONFIRM_MAX_AGE_DAYS = env_int("SUPPORTERS_CONFIRM_MAX_AGE_DAYS", 7, minimum=1)
# Sign-ups never confirmed are deleted after this many days (data minimisation, AVG art. 5).
SUPPORTERS_UNCONFIRMED_RETENTION_DAYS = env_int(
    "SUPPORTERS_UNCONFIRMED_RETENTION_DAYS", 30, minimum=8
)

# Rate limits, django-ratelimit syntax ("count/period", period s/m/h/d). They count in the shared
# Redis cache, so every web process shares one budget. Per IP is generous because many people
# share one address (mobile carrier NAT, an office, an event's wifi); per email address is tight
# because each accepted request sends a mail to that address (no mail-bombing a stranger).
SUPPORTERS_RATE_SIGNUP_IP = env_str("SUPPORTERS_RATE_SIGNUP_IP", "30/10m")
SUPPORTERS_RATE_SIGNUP_EMAIL = env_str("SUPPORTERS_RATE_SIGNUP_EMAIL", "3/h")
SUPPORTERS_RATE_RESEND_IP = env_str("SUPPORTERS_RATE_RESEND_IP", "10/10m")
SUPPORTERS_RATE_RESEND_EMAIL = env_str("SUPPORTERS_RATE_RESEND_EMAIL", "3/h")

# The client address behind the reverse proxies: TRUSTED_PROXY_COUNT in proxy.py.

# The mailto: half of List-Unsubscribe (RFC 2369); the mailbox's inbound processing reads the
# signed token from the subject. Defaults to an address at the sender's domain.
_FROM_DOMAIN = DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].rstrip(">").strip() or "localhost"
SUPPORTERS_UNSUBSCRIBE_MAILTO = env_str("SUPPORTERS_UNSUBSCRIBE_MAILTO", f"afmelden@{_FROM_DOMAIN}")

# django-ratelimit counts in the default (Redis) cache: Django's own RedisCache does the atomic
# add/incr it needs. (It is not in INSTALLED_APPS: we call its core functions, not its app.)
RATELIMIT_USE_CACHE = "default"
