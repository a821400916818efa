"""Creating many rows and their history rows fast: :func:`create_with_history`.

What ``simple_history.utils.bulk_create_with_history`` does (the rows, then one ``+`` history
row each naming the user), without the ORM compiling an INSERT per batch and building a model
instance per history row: those cost most of a large import's time. Primary keys are taken
from the table's sequence first (PostgreSQL: ``nextval`` for the whole batch; SQLite: above
the highest ever given, inside the write transaction that holds the database's lock), then the
rows go in with :func:`evidence.db.bulk_insert` (``COPY`` on PostgreSQL). Values pass through
each field's own ``get_db_prep_save``, so they are stored exactly as the ORM would store them.
"""

from __future__ import annotations

from django.db import connections, router, transaction
from django.db.models import AutoField, BigAutoField, Model
from django.utils import timezone

from evidence.db import bulk_insert

__all__ = ["create_with_history"]

# Fields whose Python value is already what the database driver takes.
_PLAIN = frozenset(
    (
        "CharField",
        "TextField",
        "IntegerField",
        "PositiveIntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveSmallIntegerField",
        "BooleanField",
        "ForeignKey",
        "AutoField",
        "BigAutoField",
    )
)


def _ids(connection, model: type[Model], count: int) -> list[int]:
    table = model._meta.db_table
    column = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, column, count],
            )
            return [row[0] for row in cursor.fetchall()]
        quoted = connection.ops.quote_name(table)
        # Table and column names come from model metadata, never from input.
        cursor.execute(f"SELECT MAX({connection.ops.quote_name(column)}) FROM {quoted}")  # noqa: S608
        highest = cursor.fetchone()[0] or 0
        # AUTOINCREMENT never hands out the id of a deleted row again (a history row may still
        # carry it); neither does this.
        cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'")
        if cursor.fetchone():
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            found = cursor.fetchone()
            highest = max(highest, found[0] if found else 0)
        return list(range(highest + 1, highest + 1 + count))


def _prepare(connection, field, value):
    return field.get_db_prep_save(value, connection)


def _rows(connection, model: type[Model], objs: list) -> tuple[list, list[list]]:
    """The concrete fields and each object's values in database form."""
    fields = model._meta.concrete_fields
    plain = [f.get_internal_type() in _PLAIN for f in fields]
    rows = []
    last: dict[int, tuple] = {}  # a field's last value and its database form (one "now")
    for obj in objs:
        row = []
        for index, (field, is_plain) in enumerate(zip(fields, plain, strict=True)):
            value = field.pre_save(obj, True)
            if is_plain:
                row.append(value)
                continue
            cached = last.get(index)
            if cached is not None and cached[0] is value:
                row.append(cached[1])
                continue
            prepared = _prepare(connection, field, value)
            last[index] = (value, prepared)
            row.append(prepared)
        rows.append(row)
    return fields, rows


def _history_rows(connection, historical, fields, rows: list[list], user) -> None:
    """One ``+`` history row per inserted row, built from the rows' database values."""
    position = {f.attname: i for i, f in enumerate(fields)}
    tracked = {f.attname for f in historical.tracked_fields}
    date_field = historical._meta.get_field("history_date")
    now = _prepare(connection, date_field, timezone.now())
    user_pk = getattr(user, "pk", None)
    ids = iter(_ids(connection, historical, len(rows)))
    columns, makers = [], []
    for field in historical._meta.concrete_fields:
        name = field.attname
        columns.append(field.column)
        if name == "history_id":
            makers.append(lambda row: next(ids))
        elif name == "history_date":
            makers.append(lambda row: now)
        elif name == "history_type":
            makers.append(lambda row: "+")
        elif name == "history_user_id":
            makers.append(lambda row: user_pk)
        elif name == "history_change_reason":
            makers.append(lambda row: None)
        elif name in tracked and name in position:
            makers.append(lambda row, i=position[name]: row[i])
        else:
            raise TypeError(f"{historical.__name__}.{name}: no value to give it")
    table = connection.ops.quote_name(historical._meta.db_table)
    bulk_insert(connection, table, columns, [tuple(m(row) for m in makers) for row in rows])


def create_with_history(objs: list[Model], model: type[Model], user) -> list[Model]:
    """Insert ``objs`` (unsaved ``model`` instances) and one history row each; set their pks.

    Runs inside the caller's transaction (the import's). Returns ``objs``.
    """
    if not objs:
        return objs
    using = router.db_for_write(model)
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError("create_with_history runs inside the caller's transaction")
    if not isinstance(model._meta.pk, (AutoField, BigAutoField)):
        raise TypeError(f"{model.__name__} has no automatic primary key")
    with transaction.atomic(using=using, savepoint=False):
        for obj, pk in zip(objs, _ids(connection, model, len(objs)), strict=True):
            obj.pk = pk
        fields, rows = _rows(connection, model, objs)
        table = connection.ops.quote_name(model._meta.db_table)
        bulk_insert(connection, table, [f.column for f in fields], [tuple(r) for r in rows])
        for obj in objs:
            obj._state.adding = False
            obj._state.db = using
        history = getattr(model, "history", None)
        if history is not None:
            _history_rows(connection, history.model, fields, rows, user)
    return objs
