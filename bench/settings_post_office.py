"""Product settings plus django-post-office, for the mailing bench's comparison only.

post_office 3.12 opens connections with get_connection(backend), which Django 6.1 refuses while
MAILERS is set: this module goes back to the EMAIL_* settings that call still reads.
"""

from urllib.parse import urlsplit

from config.settings import *  # noqa: F403
from config.settings import EMAIL_URL, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]
del MAILERS  # noqa: F821 - star-imported above; its presence opts into Django's MAILERS
_email = urlsplit(EMAIL_URL)
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = _email.hostname or "127.0.0.1"
EMAIL_PORT = _email.port or 25
# Batches of 1,000 as post_office's docs suggest for volume (its default of 100 forks its
# processes every 100 messages); 5 threads per process, its default; 2 processes (the bench).
POST_OFFICE = {
    "BACKENDS": {"default": EMAIL_BACKEND},
    "DEFAULT_PRIORITY": "medium",
    "BATCH_SIZE": 1000,
}
