"""gunicorn's settings for production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value can be changed through the environment (gunicorn's own variables win too); the
defaults suit one web machine behind nginx (deploy/nginx/survivors.conf).
"""

import multiprocessing
import os

# nginx proxies to this address; keep it on loopback or a private interface.
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# Sync workers with threads: the views are short and database-bound, and the webhook view must
# answer Stripe quickly even while a slow export download streams. 2 per core + 1 is
# gunicorn's advice; each holds one PostgreSQL connection per thread (see DB_CONN_MAX_AGE).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Stripe gives up on a webhook after 30 s; a request still running at 30 s is a bug to see.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Restart workers now and then so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# Only nginx on this machine may set X-Forwarded-* (its address, not the world's).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Access lines go to stdout for journald; the app logs JSON through structlog.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# Import the app before forking: workers share its memory and a broken deploy fails at once.
preload_app = True
