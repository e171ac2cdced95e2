"""The Prometheus endpoint (config/metrics.py) and who may read it."""

from ipaddress import ip_network

from config.env import EnvError, env_list, env_str

# A long random token Prometheus sends as "Authorization: Bearer <token>" (scrape config
# `authorization: {credentials: ...}`). Empty: only METRICS_ALLOWED_IPS may read.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# Addresses or networks (CIDR) allowed without a token, e.g. the Prometheus server's. The
# address is the one the web server sees: behind a proxy, list the proxy only with care.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", [])
for _net in METRICS_ALLOWED_IPS:
    try:
        ip_network(_net, strict=False)
    except ValueError:
        raise EnvError(
            "METRICS_ALLOWED_IPS", f"holds {_net!r}, not an address or network"
        ) from None
