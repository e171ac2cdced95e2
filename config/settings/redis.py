from config.env import env_url

REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss", "unix"))

# The cache holds only what can be rebuilt (rate-limit counters, rendered fragments):
# PostgreSQL is the truth, Redis may be flushed at any time.
CACHES = {
    "default": {
        "BACKEND": "config.cache.PooledRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sts",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
