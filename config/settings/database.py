import dj_database_url

from config.env import env_int, env_url

# No SQLite path: the demo and the tests run the same SQL as production.
DATABASE_URL = env_url(
    "DATABASE_URL",
    "postgresql://postgres@127.0.0.1:5432/survivors",
    schemes=("postgres", "postgresql", "pgsql"),
)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        # Keep connections open: a new connection per request costs ~5x the throughput of the
        # webhook endpoint (measured in the donations issue).
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
