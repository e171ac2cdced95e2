from config.env import env_bool, env_int

from .redis import REDIS_URL

CELERY_BROKER_URL = REDIS_URL
# Results are not used for control flow (tasks write their outcome to PostgreSQL).
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Europe/Amsterdam"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# Ack after the task body ran, so a crash mid-task re-delivers the message instead of losing it.
CELERY_TASK_ACKS_LATE = True
# A pool child killed by the OOM killer or SIGKILL requeues its message at once.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per process: with late acks, prefetched messages would be stuck
# behind a long batch and redelivered late if the worker dies.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup would close every database connection before and after each task (a new
# PostgreSQL backend per task) unless this is set; worker/connections.py keeps them instead for
# DB_CONN_MAX_AGE, as Django keeps a request's. Counted in task starts and ends: never reached.
CELERY_DB_REUSE_MAX = 2**62
# Longest task (a 100k-row export) is well under an hour; Redis re-delivers unacked
# messages only after this timeout, so it must exceed every task's run time.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # How often a worker sweeps for messages whose consumer died (kombu's defaults: 10 and 10).
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10, minimum=1),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10, minimum=1),
}
# On SIGTERM, let running tasks finish for a while before the cold shutdown requeues them.
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = env_int("CELERY_SOFT_SHUTDOWN_TIMEOUT", 30)
CELERY_WORKER_ENABLE_SOFT_SHUTDOWN_ON_IDLE = True
# Publishing gives up quickly when Redis is down: the outbox relay publishes the row later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
# The periodic outbox relay; overridable so tests can make it tick fast.
OUTBOX_RELAY_SECONDS = env_int("OUTBOX_RELAY_SECONDS", 10, minimum=1)
# Rows younger than this are left to the on-commit publisher.
OUTBOX_GRACE_SECONDS = env_int("OUTBOX_GRACE_SECONDS", 5)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
