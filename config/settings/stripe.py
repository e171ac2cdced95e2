from config.env import EnvError, env_bool, env_str, secret_problem

from .base import PRODUCTION

# Test-mode placeholders keep development working; production refuses them (below).
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "sk_test_placeholder")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "whsec_placeholder")
# Optional: point stripe-python at a local Stripe-speaking server (tests, demos).
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "")
# A staging site runs APP_ENV=production against Stripe's test mode: this lets it use test keys
# (and a local Stripe-speaking server). Logged as a warning at every start (donations/apps.py).
ALLOW_STRIPE_TEST_MODE = env_bool("ALLOW_STRIPE_TEST_MODE", default=False)


def _stripe_key_problem(value: str, *, prefixes: tuple[str, ...]) -> str | None:
    """Why a Stripe key or webhook secret must not run production, or None."""
    prefix = next((p for p in prefixes if value.startswith(p)), None)
    if prefix is None:
        return f"must start with {' or '.join(prefixes)} in production"
    if "placeholder" in value.lower():
        return "is a placeholder, not a value from the Stripe dashboard"
    # Real keys and secrets carry 24+ random characters after the prefix.
    return secret_problem(value[len(prefix) :], min_length=20, min_bits=80)


if PRODUCTION:
    _modes = ("live", "test") if ALLOW_STRIPE_TEST_MODE else ("live",)
    _key_prefixes = tuple(f"{kind}_{mode}_" for mode in _modes for kind in ("sk", "rk"))
    for _name, _value, _prefixes in (
        ("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY, _key_prefixes),
        ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET, ("whsec_",)),
    ):
        _problem = _stripe_key_problem(_value, prefixes=_prefixes)
        if _problem is not None:
            raise EnvError(_name, _problem)
    if STRIPE_API_BASE and not ALLOW_STRIPE_TEST_MODE:
        # The secret key goes to whatever server this names.
        raise EnvError("STRIPE_API_BASE", "must be empty in production (Stripe's own API)")
