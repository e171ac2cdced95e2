import dj_database_url

from config.env import env_choice, env_int, env_url

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

# A connection pooler in front of PostgreSQL. PgBouncer in transaction pooling hands each
# transaction whichever server connection is free, so nothing may outlive a transaction on the
# server: no server-side (WITH HOLD) cursors for QuerySet.iterator(), and no prepared
# statements (psycopg prepares a query after its 5th run; the send path prepares its mark).
# PgBouncer 1.18 (Debian 12) cannot track prepared statements (`max_prepared_statements` came in
# 1.21). Session pooling or a direct connection needs none of this: leave it unset.
DB_POOLER = env_choice("DB_POOLER", "none", ("none", "pgbouncer"))
DB_TRANSACTION_POOLING = DB_POOLER == "pgbouncer"
if DB_TRANSACTION_POOLING:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
