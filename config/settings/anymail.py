from config.env import env_str

# The ESP's webhooks (bounces, complaints, inbound mail) authenticate with HTTP basic auth,
# "user:password", configured the same at the ESP (production refuses the development value,
# see security.py). https://anymail.dev/en/stable/tips/securing_webhooks/
DEV_WEBHOOK_SECRET = "anymail:development-only-secret"  # noqa: S105 - refused in production
ANYMAIL = {"WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)}
