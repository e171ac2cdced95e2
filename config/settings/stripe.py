from config.env import env_str

# Test-mode placeholders keep development working; production is checked in security.py.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "sk_test_placeholder")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "whsec_placeholder")
# Optional: point stripe-python at a local Stripe-speaking server (tests, demos).
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "")
