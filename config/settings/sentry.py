"""Error reports (config/sentry.py): only when SENTRY_DSN is set."""

from urllib.parse import urlsplit

from config.env import EnvError, env_str

from .base import APP_ENV, PRODUCTION

# The project's DSN from Sentry (or a self-hosted Sentry/GlitchTip): https://<key>@<host>/<id>.
SENTRY_DSN = env_str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", APP_ENV)
# The deployed version (a git commit or tag), so an error names the release that made it.
SENTRY_RELEASE = env_str("SENTRY_RELEASE", "") or None

if SENTRY_DSN:
    _dsn = urlsplit(SENTRY_DSN)
    if _dsn.scheme not in ("https", "http") or not _dsn.username or not _dsn.path.strip("/"):
        raise EnvError("SENTRY_DSN", "must look like https://<key>@<host>/<project id>")
    if PRODUCTION and _dsn.scheme != "https":
        # Stack traces and URLs cross the network: never in the clear from production.
        raise EnvError("SENTRY_DSN", "must use https in production")

    from config.sentry import start

    start(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, release=SENTRY_RELEASE)
