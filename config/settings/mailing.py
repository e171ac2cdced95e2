"""The mailing engine (issue #5): fan-out tick, batch sending, retries, headers."""

import re
from pathlib import Path

from config.env import EnvError, env_bool, env_int, env_str

from .base import PRODUCTION
from .email import DEFAULT_FROM_EMAIL

_FROM_DOMAIN = DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].rstrip(">").strip() or "localhost"

# The domain in every Message-ID (<d{ledger id}.{message id}@domain>) and in List-Id. Message-IDs
# derive from the ledger row, so a repeat after a crash carries the same id and receivers drop it.
MAILING_DOMAIN = env_str("MAILING_DOMAIN", _FROM_DOMAIN)
MAILING_REPLY_TO = env_str("MAILING_REPLY_TO", f"supporters@{_FROM_DOMAIN}")
MAILING_LIST_ID = env_str("MAILING_LIST_ID", f"Save the Survivors <verhalen.{_FROM_DOMAIN}>")

# One tick claims due mailings and sequence steps (SELECT ... FOR UPDATE SKIP LOCKED) and
# publishes batches. Never Celery ETA tasks: Redis re-delivers those after the visibility timeout.
MAILING_TICK_SECONDS = env_int("MAILING_TICK_SECONDS", 10, minimum=1)
# The sweeper takes back rows of dead batches (below); cheap (one indexed UPDATE), so often.
MAILING_SWEEP_SECONDS = env_int("MAILING_SWEEP_SECONDS", 10, minimum=1)
# Ledger ids per send task: one task per recipient caps at ~500 tasks/s on two cores, batches of
# a few hundred move tens of thousands of items/s (measured in issue #5).
MAILING_BATCH_SIZE = env_int("MAILING_BATCH_SIZE", 250, minimum=1)
# Rows published as a task but still queued this long after are published again once the
# broker's mail queue is empty (so they cannot be waiting in it: Redis was flushed or restarted
# empty, a task failed for good); after ten times this in any case. A repeat is harmless (rows
# are claimed), so this only bounds how long a lost task stalls its rows.
MAILING_REDISPATCH_SECONDS = env_int("MAILING_REDISPATCH_SECONDS", 30, minimum=1)
# A running batch renews the claim on its unsent rows every 2 s (sending.py); rows whose claim
# has not been renewed for this long belong to a dead batch (worker killed, database or broker
# lost mid-batch) and go back to `queued`. Must exceed the longest pause between two letters
# of a live batch (an SMTP command timeout, 20 s), not the length of a batch.
MAILING_SENDING_TIMEOUT_SECONDS = env_int("MAILING_SENDING_TIMEOUT_SECONDS", 45, minimum=1)
# A row whose batch died this many times is failed (reason worker_lost), not swept back again.
MAILING_MAX_ORPHANED = env_int("MAILING_MAX_ORPHANED", 5, minimum=1)
# 4xx replies: retry after base * 2^(attempt-1) seconds, give up (failed) after max attempts.
# Only replies count: a refused or lost connection backs off MAILING_CONNECT_RETRY_SECONDS
# without spending an attempt, however long the mail server is away.
MAILING_RETRY_BASE_SECONDS = env_int("MAILING_RETRY_BASE_SECONDS", 60, minimum=0)
MAILING_MAX_ATTEMPTS = env_int("MAILING_MAX_ATTEMPTS", 6, minimum=1)
MAILING_CONNECT_RETRY_SECONDS = env_int("MAILING_CONNECT_RETRY_SECONDS", 30, minimum=0)
# Most rows a single tick dispatches, so one huge mailing cannot hold the tick for long.
MAILING_DISPATCH_LIMIT = env_int("MAILING_DISPATCH_LIMIT", 50_000, minimum=1)
# The sender's postal address in every marketing email's footer (required by bulk-mail rules).
MAILING_POSTAL_ADDRESS = env_str("MAILING_POSTAL_ADDRESS", "Save the Children Nederland, Den Haag")
# DKIM: a PEM private key file turns signing on; publish the public key as a TXT record at
# <selector>._domainkey.<domain>. Empty: no signature (development, tests of other parts).
MAILING_DKIM_KEY_FILE = env_str("MAILING_DKIM_KEY_FILE", "")
MAILING_DKIM_SELECTOR = env_str("MAILING_DKIM_SELECTOR", "survivors")
MAILING_DKIM_DOMAIN = env_str("MAILING_DKIM_DOMAIN", MAILING_DOMAIN)
# Global send rate per transport in messages/s, shared by all workers (0: unlimited). Set it to
# what the SMTP relay or ESP contract allows; a 421/451/452 reply halves it for a minute.
MAILING_RATE_PER_SECOND = env_int("MAILING_RATE_PER_SECOND", 0, minimum=0)
MAILING_RATE_BURST = env_int("MAILING_RATE_BURST", 50, minimum=1)
# How marketing email leaves: "smtp" (EMAIL_URL, pipelined, DKIM-signed here) or "anymail": an
# ESP's HTTP API through django-anymail, in batches of MAILING_ESP_BATCH_SIZE recipients per
# call where the ESP merges per-recipient parts itself (Mailgun recipient-variables, up to 1,000
# per call: https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/#batch-sending).
# A worker killed mid-call may repeat that one call's batch, so keep batches modest.
MAILING_TRANSPORT = env_str("MAILING_TRANSPORT", "smtp")
if MAILING_TRANSPORT not in ("smtp", "anymail"):
    raise EnvError("MAILING_TRANSPORT", f"must be smtp or anymail, got {MAILING_TRANSPORT!r}")
MAILING_ESP_BACKEND = env_str("MAILING_ESP_BACKEND", "anymail.backends.mailgun.EmailBackend")
MAILING_ESP_BATCH_SIZE = env_int("MAILING_ESP_BATCH_SIZE", 100, minimum=1)
# Passed to the anymail backend (anymail reads api_key, sender_domain, api_url from them).
MAILING_ESP_OPTIONS = {
    "api_key": env_str("MAILGUN_API_KEY", ""),
    "sender_domain": env_str("MAILGUN_SENDER_DOMAIN", MAILING_DOMAIN),
    "api_url": env_str("MAILGUN_API_URL", "https://api.eu.mailgun.net/v3"),
}
# Links in marketing email (not the unsubscribe or preference links) go through a signed
# redirect, /r/<token>/<n>/, that records a person's first click per link (mailing/tracking.py).
# Off: links point straight at their target. There is no open pixel (privacy).
MAILING_CLICK_TRACKING = env_bool("MAILING_CLICK_TRACKING", True)

# Production signs every email (campaign/mail_headers.py): unsigned mail with a one-click
# unsubscribe does not count with the big mailbox providers. A site that cannot sign (its
# relay signs for it) says so explicitly; that is logged at every start (campaign/apps.py).
MAILING_DKIM_OPTOUT = env_bool("MAILING_DKIM_OPTOUT", False)
# Bulk-mail rules want a full postal address in every footer: street and number, and a Dutch
# postcode (1234 AB; a Postbus number counts as the street).
_STREET_AND_NUMBER = re.compile(r"[^\W\d_][\w'.-]*\s+\d+\s*[a-zA-Z]?\b")
_POSTCODE = re.compile(r"\b[1-9][0-9]{3}\s?(?!SA|SD|SS)[A-Z]{2}\b")


def postal_address_problem(value: str) -> str | None:
    """Why an address cannot stand in a production footer, or None."""
    if not _STREET_AND_NUMBER.search(value):
        return f"needs a street and house number, got {value!r}"
    if not _POSTCODE.search(value):
        return f"needs a Dutch postcode (1234 AB), got {value!r}"
    return None


def dkim_key_problem(path: str) -> str | None:
    """Why the DKIM key file cannot sign, or None. Never prints the key."""
    try:
        head = Path(path).read_bytes()[:100]
    except OSError as error:
        return f"cannot be read ({error.strerror}): {path!r}"
    if b"PRIVATE KEY-----" not in head:
        return f"is not a PEM private key: {path!r}"
    return None


if PRODUCTION:
    if MAILING_DKIM_KEY_FILE:
        _problem = dkim_key_problem(MAILING_DKIM_KEY_FILE)
        if _problem is not None:
            raise EnvError("MAILING_DKIM_KEY_FILE", _problem)
    elif not MAILING_DKIM_OPTOUT:
        raise EnvError(
            "MAILING_DKIM_KEY_FILE",
            "is required in production (or set MAILING_DKIM_OPTOUT=1 when the relay signs)",
        )
    _problem = postal_address_problem(MAILING_POSTAL_ADDRESS)
    if _problem is not None:
        raise EnvError("MAILING_POSTAL_ADDRESS", _problem)

# Bounces (mailing/bounces.py): an address that does not exist is suppressed at the first
# failure; other permanent failures (a 5xx policy block) after this many within the window;
# temporary ones (a full mailbox, a deferral given up on, a "delayed" DSN) after this many
# (0: counted only, never suppressed).
MAILING_BOUNCE_HARD_LIMIT = env_int("MAILING_BOUNCE_HARD_LIMIT", 3, minimum=1)
MAILING_SOFT_BOUNCE_LIMIT = env_int("MAILING_SOFT_BOUNCE_LIMIT", 8, minimum=0)
MAILING_BOUNCE_WINDOW_DAYS = env_int("MAILING_BOUNCE_WINDOW_DAYS", 30, minimum=1)
# VERP (mailing/verp.py): every campaign message's envelope sender (MAIL FROM, the Return-Path
# bounces go to) is bounces+<delivery id>-<signature>@<domain>, so a DSN that comes back from
# the relay names the message it is about. Mail for that address must reach the inbound bounce
# route (docs/operations.md). Empty: the envelope sender is DEFAULT_FROM_EMAIL's address.
MAILING_BOUNCE_ADDRESS = env_str("MAILING_BOUNCE_ADDRESS", f"bounces@{MAILING_DOMAIN}")
# The bearer token of POST /mailing/bounces/ (raw DSNs from the MTA); empty: the route is 404.
MAILING_BOUNCE_SECRET = env_str("MAILING_BOUNCE_SECRET", "")
# The largest message the route reads (a DSN carries the returned message's headers or body).
MAILING_BOUNCE_MAX_BYTES = env_int("MAILING_BOUNCE_MAX_BYTES", 2_000_000, minimum=10_000)


def _rate(name: str, default: str) -> float:
    """A fraction between 0 and 1 from the environment (0.003 is 0.3%)."""
    raw = env_str(name, default)
    try:
        value = float(raw)
    except ValueError:
        raise EnvError(name, f"must be a fraction such as 0.003, got {raw!r}") from None
    if not 0 < value < 1:
        raise EnvError(name, f"must lie between 0 and 1 (0.003 is 0.3%), got {raw!r}")
    return value


# Spam complaints per mailing (mailing/complaints.py): complaints / delivered above the warn
# rate shows a warning on the results page; above the stop rate the mailing is paused with the
# reason, until staff resume it deliberately. Gmail and Yahoo's bulk-sender rules: stay under
# 0.1%, never reach 0.3% (https://support.google.com/a/answer/81126). The rate is judged once
# this many messages are delivered (one complaint among the first hundred is noise).
MAILING_COMPLAINT_WARN_RATE = _rate("MAILING_COMPLAINT_WARN_RATE", "0.001")
MAILING_COMPLAINT_STOP_RATE = _rate("MAILING_COMPLAINT_STOP_RATE", "0.003")
MAILING_COMPLAINT_MIN_DELIVERED = env_int("MAILING_COMPLAINT_MIN_DELIVERED", 1000, minimum=1)
# The sunset rule (mailing/engagement.py): campaign mailings leave out people who have not
# clicked, given, confirmed or changed their preferences in this many days (we keep no open
# pixel, so an open is no sign of life). Staff include them per mailing (re-engagement). 0: off.
MAILING_SUNSET_DAYS = env_int("MAILING_SUNSET_DAYS", 365, minimum=0)
