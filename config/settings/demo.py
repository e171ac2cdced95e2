"""Development-only tools the run command turns on (never in production)."""

from config.env import EnvError, env_str

from .base import PRODUCTION

# Where the demo mailbox (config/demo_mailbox.py) keeps the emails the demo sends; the run
# command sets it when no EMAIL_URL is given. Empty: /demo/mailbox/ answers 404.
DEMO_MAILBOX_DIR = env_str("DEMO_MAILBOX_DIR", "")
if PRODUCTION and DEMO_MAILBOX_DIR:
    raise EnvError("DEMO_MAILBOX_DIR", "is a development tool and must not be set in production")
