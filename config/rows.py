"""New rows of several models in one statement: one round trip where each model's create() or
bulk_create() would take one, for paths that come in thousands a minute (a TV appeal's
sign-ups).

Like bulk_create: the rows get no primary key back (give them one, or none) and no model signal
is sent, so use it for rows nothing listens to, or send what is needed yourself (the audit log's
entry: backoffice.audit.created_entry). Field defaults and db_default apply as they would on
save; auto_now and auto_now_add fill only a time left empty, so a row's values can be read (for
its audit-log entry) before it is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.db import connections, models
from django.db.models.expressions import DatabaseDefault

# A model's rows from this many on are written as one array per column (see rows_insert).
ARRAYS_FROM = 4


def next_id(model: type[models.Model], *, using: str = "default") -> int:
    """The next value of the model's id sequence, for a row written with rows that name it."""
    meta = model._meta
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s))", [meta.db_table, meta.pk.column]
        )
        return int(cursor.fetchone()[0])


def _stamped(field: models.Field[Any, Any]) -> bool:
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _value(row: models.Model, field: models.Field[Any, Any], connection: Any) -> Any:
    """The field's value as save() would write it: the database default, None, or prepared."""
    value = getattr(row, field.attname)
    if value is None or not _stamped(field):
        value = field.pre_save(row, add=True)
    if value is None or isinstance(value, DatabaseDefault):
        return value
    return field.get_db_prep_save(value, connection)


def rows_insert(rows: Iterable[models.Model], *, using: str = "default") -> None:
    """INSERT every row, grouped by model, in one statement (each group a data-modifying CTE;
    PostgreSQL runs them all, in one snapshot, and checks foreign keys at commit as usual)."""
    connection = connections[using]
    by_model: dict[type[models.Model], list[models.Model]] = {}
    for row in rows:
        by_model.setdefault(type(row), []).append(row)
    if not by_model:
        return
    quote = connection.ops.quote_name
    inserts: list[str] = []
    params: list[Any] = []
    for number, (model, objects) in enumerate(by_model.items()):
        if model._meta.parents:
            raise TypeError(f"{model.__name__}: a child model's rows span tables")
        with_pk = {row.pk is not None for row in objects}
        if len(with_pk) > 1:
            raise ValueError(f"{model.__name__}: give every row its primary key, or none")
        fields = [
            field
            for field in model._meta.local_concrete_fields
            if (field is not model._meta.auto_field or with_pk == {True}) and not field.generated
        ]
        values = [[_value(obj, field, connection) for field in fields] for obj in objects]
        columns = ", ".join(quote(cast(str, field.column)) for field in fields)  # concrete: named
        table = quote(model._meta.db_table)
        defaults = any(isinstance(v, DatabaseDefault) for cells in values for v in cells)
        if len(objects) >= ARRAYS_FROM and not defaults:
            # A parameter per column (an array of its values), however many rows: psycopg
            # reuses its parse of a statement of at most 50 parameters, and splitting a long
            # one into its placeholders was most of the time a batch of rows took to write.
            casts = [f"%s::{field.cast_db_type(connection)}[]" for field in fields]
            params += [[cells[n] for cells in values] for n in range(len(fields))]
            source = f"SELECT * FROM unnest({', '.join(casts)})"  # noqa: S608 - types, no values
        else:
            tuples = []
            for cells in values:
                marks = []
                for value in cells:
                    if isinstance(value, DatabaseDefault):
                        marks.append("DEFAULT")
                    elif value is None:
                        # Written out: psycopg reuses its parse of a statement of at most 50
                        # parameters, and most of a row's empty columns are the same every time.
                        marks.append("NULL")
                    else:
                        marks.append("%s")
                        params.append(value)
                tuples.append(f"({', '.join(marks)})")
            source = f"VALUES {', '.join(tuples)}"
        # Names from the models, values as parameters.
        inserts.append(f"i{number} AS (INSERT INTO {table} ({columns}) {source})")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(inserts)} SELECT 1", params)
    for objects in by_model.values():
        for row in objects:
            row._state.adding, row._state.db = False, using
