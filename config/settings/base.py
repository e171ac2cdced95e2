from pathlib import Path

from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_choice, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# APP_ENV=production turns on the start-up checks in security.py; development and test relax them.
# Only these spellings: an unknown value ("Production", "prod") stops start-up instead of
# silently running with every production check off.
APP_ENV = env_choice("APP_ENV", "development", ("development", "test", "production"))
PRODUCTION = APP_ENV == "production"
DEBUG = env_bool("DEBUG", default=False)

SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000", schemes=("http", "https")).rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    # unfold's templates come before the admin's; the admin app installs our OTP site.
    "unfold.apps.BasicAppConfig",
    "backoffice.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "campaign",
    "donations",
    "mailing",
    "worker",
    "anymail",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Passkeys (WebAuthn) as a second factor after the password: settings in backoffice.py.
    "django_otp_webauthn",
    # The audit log (backoffice/audit.py lists what it records). Before backoffice, whose admin
    # replaces auditlog's own page with the themed one.
    "auditlog",
    "backoffice.apps.BackofficeConfig",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # The back office follows the language cookie (LocaleMiddleware alone: always Dutch).
    "backoffice.middleware.StaffLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): which second-factor device this session was verified with.
    "django_otp.middleware.OTPMiddleware",
    # Who changed what: the request's user is the audit log's actor (backoffice/audit.py).
    "backoffice.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # After the CSP middleware, so the staff pages' policy is set before it writes the header.
    "backoffice.middleware.StaffCSPMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Dutch first: the campaign is Dutch; English lives under /en/ (i18n_patterns without a prefix
# for the default language).
LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", _("Dutch")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Tests and the dev server serve static files straight from the app folders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The staff back office lives at a path set here, not at the guessable /admin/.
ADMIN_PATH = env_str("ADMIN_PATH", "staff/").strip("/") + "/"
