"""The ledger is append-only in PostgreSQL itself: corrections are new rows (DESIGN invariant 3).

A row-level trigger refuses UPDATE and DELETE on donations_transaction, whatever the client
(the ORM, a shell, a migration, a staff member with psql). TRUNCATE fires no row-level
trigger, so test databases can still be flushed; only table owners may TRUNCATE anyway.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION donations_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The default SQLSTATE (P0001), not a constraint code: code that catches IntegrityError
    -- to dedupe inserts must never mistake a refused UPDATE for a duplicate.
    RAISE EXCEPTION 'donations_transaction is append-only: % refused (record a correction row)', TG_OP;
END;
$$;

CREATE TRIGGER donations_ledger_append_only
BEFORE UPDATE OR DELETE ON donations_transaction
FOR EACH ROW EXECUTE FUNCTION donations_ledger_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS donations_ledger_append_only ON donations_transaction;
DROP FUNCTION IF EXISTS donations_ledger_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("donations", "0001_initial"),
    ]

    operations = [migrations.RunSQL(CREATE, reverse_sql=DROP)]
