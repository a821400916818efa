"""The database as a locked room: append-only triggers and the application role's grants.

Triggers. PostgreSQL and SQLite both refuse UPDATE and DELETE on the ledger tables with the
message ``evidence ledger is append-only``; PostgreSQL also refuses TRUNCATE (a statement-level
trigger, since TRUNCATE fires no row triggers; SQLite has no TRUNCATE). Migration 0002 installs
them on the first tables, 0009 on the witnesses' cosignatures; 0006 adds the TRUNCATE triggers
to databases migrated before they existed.

Roles (PostgreSQL). A trigger only binds those who cannot drop or disable it, and only a table's
owner (or a superuser) can. So production runs with two roles:

- the owner (``DATABASE_OWNER_URL``) owns every table and function; ``manage.py migrate`` and
  ``manage.py grant_app_role`` connect as it (``config/settings.py`` switches to it for exactly
  those commands);
- the application role (``DATABASE_URL``) is what the web processes and workers log in as. It
  owns nothing, is no superuser and no member of the owner, so it cannot ``ALTER TABLE ...
  DISABLE TRIGGER``, ``DROP TRIGGER``, replace the trigger function, or ``SET
  session_replication_role = replica`` (which would silence triggers and needs a superuser). On
  the ledger tables it may only SELECT and INSERT: no UPDATE, DELETE or TRUNCATE even before a
  trigger is reached.

:func:`grant_statements` derives every grant from the table lists below, so a new ledger table
is locked by naming it in :data:`LATER_APPEND_ONLY_TABLES` and installing its triggers in a
migration that runs after the table exists (grants follow the list) or, for state that appends
move on, in :data:`APP_UPDATABLE_TABLES`. Every other table in the schema gets full DML.
``post_migrate`` re-applies the grants after every ``migrate`` run as the owner (see
``evidence/apps.py``), so a table created by a migration is never left with more than its list
allows. Someone with the owner's powers can still lift the triggers; that is caught by
``verify_ledger``, which recomputes the tree and compares it with the checkpoints published
outside the database.
"""

# Signed history: the application role may only read and add rows. Migration 0002 locks these.
APPEND_ONLY_TABLES = (
    "evidence_logentry",
    "evidence_merklenode",
    "evidence_checkpoint",
    "evidence_signingkey",
)
# Append-only tables created after 0002, each locked by a migration of its own once the table
# exists (0009 for the witnesses' cosignatures): 0002 runs on a fresh database before them.
LATER_APPEND_ONLY_TABLES = ("evidence_witnesscosignature",)
# Every table the triggers and the grants lock.
LOCKED_TABLES = APPEND_ONLY_TABLES + LATER_APPEND_ONLY_TABLES
# Ledger state that every append moves on (the head row, recomputed by ``verify_ledger``):
# SELECT, INSERT and UPDATE (``SELECT ... FOR UPDATE`` needs UPDATE), never DELETE.
APP_UPDATABLE_TABLES = ("evidence_loghead",)
# The owner's bookkeeping: the application reads it (to see pending migrations), never writes.
APP_READ_ONLY_TABLES = ("django_migrations",)

APP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
MESSAGE = "evidence ledger is append-only"


def _postgres_install(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION safecase_refuse_change()",
        *_postgres_install_truncate(table),
    ]


def _postgres_install_truncate(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION safecase_refuse_change()",
    ]


def _sqlite_install(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ]


# One function serves the row triggers and the statement-level TRUNCATE triggers.
_POSTGRES_FUNCTION = (
    "CREATE OR REPLACE FUNCTION safecase_refuse_change() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    f"RAISE EXCEPTION '{MESSAGE} (% on %)', TG_OP, TG_TABLE_NAME "
    "USING ERRCODE = 'insufficient_privilege'; END $$"
)


def install_statements(vendor: str, tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> list[str]:
    if vendor == "postgresql":
        statements = [_POSTGRES_FUNCTION]
        for table in tables:
            statements += _postgres_install(table)
        return statements
    if vendor == "sqlite":
        return [s for table in tables for s in _sqlite_install(table)]
    raise NotImplementedError(f"append-only triggers are not written for {vendor}")


def truncate_install_statements(vendor: str) -> list[str]:
    """The TRUNCATE triggers alone (migration 0006); SQLite has no TRUNCATE."""
    if vendor != "postgresql":
        return []
    return [
        _POSTGRES_FUNCTION,
        *(s for t in APPEND_ONLY_TABLES for s in _postgres_install_truncate(t)),
    ]


def truncate_drop_statements(
    vendor: str, tables: tuple[str, ...] = APPEND_ONLY_TABLES
) -> list[str]:
    if vendor != "postgresql":
        return []
    return [f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}" for t in tables]


def drop_statements(vendor: str, tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> list[str]:
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}" for t in tables
        ] + truncate_drop_statements(vendor, tables)
    return [
        f"DROP TRIGGER IF EXISTS {t}_{suffix}"
        for t in tables
        for suffix in ("no_update", "no_delete")
    ]


def execute(connection, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install_triggers(connection, tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> None:
    """The triggers of ``tables`` (default: those migration 0002 locks, which calls this)."""
    execute(connection, install_statements(connection.vendor, tables))


def drop_triggers(connection, tables: tuple[str, ...] = APPEND_ONLY_TABLES) -> None:
    execute(connection, drop_statements(connection.vendor, tables))


class RoleError(Exception):
    """The application role cannot be locked in as asked (it would keep an owner's powers)."""


def table_privileges(table: str) -> str:
    """What the application role may do on ``table``."""
    if table in LOCKED_TABLES:
        return "SELECT, INSERT"
    if table in APP_UPDATABLE_TABLES:
        return "SELECT, INSERT, UPDATE"
    if table in APP_READ_ONLY_TABLES:
        return "SELECT"
    return APP_PRIVILEGES


def check_app_role(cursor, role: str) -> None:
    """Refuse a role that could lift the triggers or drop the tables: missing, superuser, member
    of the current (owner) role, owner of the database or the schema (a schema's owner may drop
    the tables in it), or owner of a table in it."""
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
    row = cursor.fetchone()
    if row is None:
        raise RoleError(f"there is no database role {role!r}; create it first (see the README)")
    cursor.execute(
        "SELECT pg_has_role(%s, current_user, 'MEMBER'), current_user = %s", [role, role]
    )
    (superuser,), (member, same) = row, cursor.fetchone()
    if superuser:
        raise RoleError(f"{role!r} is a superuser, which can lift any trigger: use NOSUPERUSER")
    if same:
        raise RoleError(
            f"{role!r} is the role running this command; run it as the owner "
            "(DATABASE_OWNER_URL) and name the application role"
        )
    if member:
        raise RoleError(f"{role!r} is a member of the owner role and would share its powers")
    cursor.execute(
        "SELECT pg_has_role(%s, d.datdba, 'MEMBER'), pg_has_role(%s, n.nspowner, 'MEMBER') "
        "FROM pg_database d, pg_namespace n "
        "WHERE d.datname = current_database() AND n.nspname = current_schema()",
        [role, role],
    )
    owns_database, owns_schema = cursor.fetchone()
    if owns_database or owns_schema:
        raise RoleError(
            f"{role!r} owns the {'database' if owns_database else 'schema'}, which lets it drop "
            "the ledger tables: give it to the owner role"
        )
    cursor.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tableowner = %s "
        "ORDER BY tablename",
        [role],
    )
    owned = [name for (name,) in cursor.fetchall()]
    if owned:
        raise RoleError(
            f"{role!r} owns {', '.join(owned)}; run migrate as the owner and give the tables "
            "to it (REASSIGN OWNED BY ... TO ...)"
        )


def quote(name: str) -> str:
    """A PostgreSQL identifier, quoted (role names come from configuration)."""
    return '"' + name.replace('"', '""') + '"'


def grant_statements(schema: str, tables: list[str], role: str) -> list[str]:
    """Revoke everything from ``role`` in ``schema``, then grant what each table's list allows.

    Default privileges make a table the owner creates later readable and appendable only (the
    most a ledger table allows) until the next ``grant_app_role`` or ``migrate`` applies its
    list's privileges.
    """
    who, where = quote(role), quote(schema)
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}",
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
    ]
    statements += [
        f"GRANT {table_privileges(t)} ON TABLE {where}.{quote(t)} TO {who}" for t in tables
    ]
    statements += [
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {where} GRANT SELECT, INSERT ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {where} GRANT USAGE, SELECT ON SEQUENCES TO {who}",
    ]
    return statements


def grant_app_role(connection, role: str) -> list[str]:
    """Lock ``role`` in as the application role, as the owner connected on ``connection``.

    Idempotent: everything is revoked and granted again in one transaction, so the application
    never sees a half-granted schema. Returns the tables granted. Raises :class:`RoleError` when
    the role could lift the triggers anyway.
    """
    from django.db import transaction

    if connection.vendor != "postgresql":
        raise RoleError("database roles and grants need PostgreSQL; SQLite has no roles")
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        return grant_with(cursor, role)


def grant_with(cursor, role: str) -> list[str]:
    """:func:`grant_app_role` on any DB-API cursor of the owner; the caller owns the transaction."""
    check_app_role(cursor, role)
    cursor.execute("SELECT current_schema()")
    (schema,) = cursor.fetchone()
    cursor.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", [schema]
    )
    tables = [name for (name,) in cursor.fetchall()]
    for statement in grant_statements(schema, tables, role):
        cursor.execute(statement)
    return tables


def bulk_insert(
    connection, table: str, columns: list[str], rows: list[tuple], *, binary: bool = False
) -> None:
    """Insert many rows fast: ``COPY`` on PostgreSQL, ``executemany`` elsewhere.

    The ledger writes up to hundreds of thousands of rows per batch; the ORM's ``bulk_create``
    spends most of that time compiling SQL. Values must already be in database form.
    ``binary``: COPY in PostgreSQL's binary format, with the columns' own types (bytea then
    travels as it is, not as hex text: three times faster for the ledger's envelopes); each
    value must then be of its column's Python type (bytes for bytea, datetime for timestamps).
    """
    if not rows:
        return
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            options = ""
            if binary:
                cursor.execute(
                    "SELECT attname, atttypid FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attnum > 0",
                    [table],
                )
                oids = dict(cursor.fetchall())
                options = " (FORMAT BINARY)"
            with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN{options}") as copy:
                if binary:
                    copy.set_types([oids[c] for c in columns])
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            # Table and column names come from model metadata, never from input.
            sql = f"INSERT INTO {table} ({quoted}) VALUES ({marks})"  # noqa: S608
            cursor.executemany(sql, rows)
