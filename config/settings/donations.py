from config.env import EnvError, env_int, env_str

from .base import PRODUCTION

# Gift limits in cents: the minimum also blunts card testing (tiny probe charges).
DONATION_MIN_CENTS = env_int("DONATION_MIN_CENTS", 500, minimum=50)
DONATION_MAX_CENTS = env_int("DONATION_MAX_CENTS", 1_000_000, minimum=100)
DONATION_PRESETS_CENTS = (1000, 2500, 5000, 10000)
DONATION_CURRENCY = "eur"
# Stripe's processing fee per method as (basis points, fixed cents), used to show and add the
# exact extra when a donor covers the fee. Change these when the Stripe contract changes.
DONATION_FEES = {
    "card": (150, 25),
    "ideal": (0, 29),
    "bancontact": (140, 25),
    "sepa_debit": (0, 35),
}
# Monthly gifts: after this many failed SEPA attempts of one invoice the gift lapses.
DUNNING_MAX_ATTEMPTS = env_int("DUNNING_MAX_ATTEMPTS", 4, minimum=1)
# Links in emails that let a donor manage a monthly gift stay valid this long.
RECURRING_LINK_MAX_AGE_DAYS = env_int("RECURRING_LINK_MAX_AGE_DAYS", 30, minimum=1)
# Card-testing defence: this many declined payments from one IP within the window block it.
DECLINE_BLOCK_THRESHOLD = env_int("DECLINE_BLOCK_THRESHOLD", 5, minimum=1)
DECLINE_BLOCK_WINDOW_SECONDS = env_int("DECLINE_BLOCK_WINDOW_SECONDS", 3600, minimum=60)
# Card-testing defence, django-ratelimit syntax ("count/period"), counted in the shared Redis
# cache. Only new checkouts count (a double click reuses its gift). Per IP allows a family or
# an office behind one address a few gifts; per email stops one address trying card after card.
DONATIONS_RATE_CHECKOUT_IP = env_str("DONATIONS_RATE_CHECKOUT_IP", "10/10m")
DONATIONS_RATE_CHECKOUT_EMAIL = env_str("DONATIONS_RATE_CHECKOUT_EMAIL", "5/h")
# Webhook inbox: a webhook starts INBOX_DRAINERS drain tasks at most once per INBOX_WAKE_SECONDS;
# two match the two worker processes that share a burst of events.
INBOX_DRAINERS = env_int("INBOX_DRAINERS", 2, minimum=1)
INBOX_WAKE_SECONDS = env_int("INBOX_WAKE_SECONDS", 2, minimum=1)


# --- The charity on annual statements and periodic-gift agreements (issue #7) ---------------


def rsin_is_valid(value: str) -> bool:
    """The Belastingdienst's eleven-test for an RSIN (the same as for a BSN): nine digits whose
    weighted sum (9, 8, ..., 2, and -1 for the last) is a multiple of eleven."""
    if len(value) != 9 or not value.isdigit():
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(w * int(d) for w, d in zip(weights, value, strict=True)) % 11 == 0


def _charity(name: str, demo: str) -> str:
    # Production must name the real charity: a demo RSIN on a tax statement would be worse
    # than not starting.
    return env_str(name, None if PRODUCTION else demo)


CHARITY_NAME = _charity("CHARITY_NAME", "Save the Children Nederland (demo)")
# RSIN: the charity's fiscal number, printed on every statement and agreement (ANBI rules).
CHARITY_RSIN = _charity("CHARITY_RSIN", "123456782").replace(" ", "").replace(".", "")
if not rsin_is_valid(CHARITY_RSIN):
    raise EnvError(
        "CHARITY_RSIN", f"must be 9 digits passing the eleven-test, got {CHARITY_RSIN!r}"
    )
CHARITY_ADDRESS = _charity("CHARITY_ADDRESS", "Postbus 00000, 2500 AA Den Haag (demo)")
# TrueType fonts for the PDFs (they must cover the euro sign and Dutch accents). Debian and
# Ubuntu ship DejaVu as fonts-dejavu-core; elsewhere point these at any such TTF.
PDF_FONT = env_str("PDF_FONT", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PDF_FONT_BOLD = env_str("PDF_FONT_BOLD", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
# Annual statements are emailed in batches of this many per mail-queue task.
STATEMENT_BATCH_SIZE = env_int("STATEMENT_BATCH_SIZE", 50, minimum=1)
