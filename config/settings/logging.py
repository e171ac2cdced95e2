from config.env import env_str
from config.logs import configure_structlog

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "json")
LOGGING = configure_structlog(level=LOG_LEVEL, fmt=LOG_FORMAT)
