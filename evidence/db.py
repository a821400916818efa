"""Database triggers that make the ledger's tables append-only.

PostgreSQL and SQLite both refuse UPDATE and DELETE on these tables with the message
``evidence ledger is append-only``. Migration 0002 installs them. The triggers keep the
application and careless hands out; someone who can drop them is caught by ``verify_ledger``,
which recomputes the tree and compares it with the checkpoints published outside the database.
"""

APPEND_ONLY_TABLES = (
    "evidence_logentry",
    "evidence_merklenode",
    "evidence_checkpoint",
    "evidence_signingkey",
)
MESSAGE = "evidence ledger is append-only"


def _postgres_install(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION safecase_refuse_change()",
    ]


def _sqlite_install(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ]


def install_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        statements = [
            "CREATE OR REPLACE FUNCTION safecase_refuse_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION '{MESSAGE} (% on %)', TG_OP, TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        ]
        for table in APPEND_ONLY_TABLES:
            statements += _postgres_install(table)
        return statements
    if vendor == "sqlite":
        return [s for table in APPEND_ONLY_TABLES for s in _sqlite_install(table)]
    raise NotImplementedError(f"append-only triggers are not written for {vendor}")


def drop_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}" for t in APPEND_ONLY_TABLES]
    return [
        f"DROP TRIGGER IF EXISTS {t}_{suffix}"
        for t in APPEND_ONLY_TABLES
        for suffix in ("no_update", "no_delete")
    ]


def install_triggers(connection) -> None:
    with connection.cursor() as cursor:
        for statement in install_statements(connection.vendor):
            cursor.execute(statement)


def drop_triggers(connection) -> None:
    with connection.cursor() as cursor:
        for statement in drop_statements(connection.vendor):
            cursor.execute(statement)


def bulk_insert(connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Insert many rows fast: ``COPY`` on PostgreSQL, ``executemany`` elsewhere.

    The ledger writes up to hundreds of thousands of rows per batch; the ORM's ``bulk_create``
    spends most of that time compiling SQL. Values must already be in database form.
    """
    if not rows:
        return
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            # Table and column names come from model metadata, never from input.
            sql = f"INSERT INTO {table} ({quoted}) VALUES ({marks})"  # noqa: S608
            cursor.executemany(sql, rows)
