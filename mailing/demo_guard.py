"""Whether the demo's readers may be signed up and mailed here: only when their mail cannot
leave this machine. The readers have example.org addresses; with a real EMAIL_URL (a relay,
an ESP) their confirmations and the demo mailing would go out for real."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

# Backends that never send: Django's test backend, the console, the file backend, the dummy.
_KEPT_LOCALLY = {
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def demo_mail_refusal() -> str | None:
    """Why the demo readers must not be seeded here, or None when their mail stays local (the
    demo mailbox the run command starts, or a backend that sends nothing)."""
    if settings.MAILING_TRANSPORT != "smtp":
        return (
            f"marketing mail goes out through an ESP (MAILING_TRANSPORT="
            f"{settings.MAILING_TRANSPORT}): the demo readers would be mailed for real"
        )
    mailer = settings.MAILERS["default"]
    if mailer["BACKEND"] in _KEPT_LOCALLY:
        return None
    host = str((mailer.get("OPTIONS") or {}).get("host", ""))
    if settings.DEMO_MAILBOX_DIR and host in _LOOPBACK:
        return None  # the demo mailbox (config/demo_mailbox.py) keeps every email it gets
    shown = urlsplit(settings.EMAIL_URL).hostname or host or mailer["BACKEND"]
    return (
        f"EMAIL_URL is a real mail server ({shown}), not the demo mailbox: the demo readers "
        "would be mailed for real. Unset EMAIL_URL (the run command then starts the demo "
        "mailbox), or leave out the readers"
    )
