"""Who the client is: the reverse proxies in front and the header they write (issue 13).

Every rate limit, the consent evidence, a gift's client_ip and the card-testing defence read the
address through config.client_address.client_ip, which uses only these two settings.
"""

import re

from config.env import EnvError, env_int, env_str

from .base import PRODUCTION

# How many reverse proxies in front of the app append the address they received a request from
# to CLIENT_IP_HEADER (nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for).
# 0: no proxy, the client is REMOTE_ADDR and the header is ignored, since a client can write it.
# Production must say (0 included): behind one proxy, REMOTE_ADDR is the proxy for everyone,
# and every per-address limit becomes one limit for the whole site.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", None if PRODUCTION else 0, minimum=0)
# The header those proxies write: a comma-separated list, each proxy appending the address it
# saw. A header a single proxy overwrites (X-Real-IP) works too, with TRUSTED_PROXY_COUNT=1.
CLIENT_IP_HEADER = env_str("CLIENT_IP_HEADER", "X-Forwarded-For")
if not re.fullmatch(r"[A-Za-z0-9-]+", CLIENT_IP_HEADER):
    raise EnvError("CLIENT_IP_HEADER", f"must be an HTTP header name, got {CLIENT_IP_HEADER!r}")
CLIENT_IP_META_KEY = "HTTP_" + CLIENT_IP_HEADER.upper().replace("-", "_")

# django-ratelimit's own "ip" key (should a view use it) reads the same address.
RATELIMIT_IP_META_KEY = "config.client_address.ratelimit_ip"
