"""The owner's powers on the test database, for what the application role may not do.

With ``DATABASE_OWNER_URL`` set (as in CI) the test database is created and migrated as the
owner and the tests then connect as the application role, as production runs (see
``django_db_setup`` in ``tests/conftest.py``). The application role can neither lift the
append-only triggers, rewrite ledger rows nor empty tables, yet tests that stage an insider's
attack and the clean-up between transactional tests must: they take :func:`owner_cursor`, a
connection of its own as the owner. It sees committed rows only, so a test that tampers through
it uses a transactional database (``ledger_transactional_db``).

Without a separate owner (SQLite, or PostgreSQL with one role) :func:`owner_cursor` is the
test's own connection, which has those powers itself.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import dj_database_url

from evidence.db import LOCKED_TABLES, drop_statements, install_statements

_app_credentials: dict = {}


def owner_params(connection) -> dict | None:
    """psycopg connection arguments for the owner on ``connection``'s database, or None when
    that connection already is the owner (or there is no owner)."""
    from django.conf import settings

    if connection.vendor != "postgresql" or not settings.DATABASE_OWNER_URL:
        return None
    owner = dj_database_url.parse(settings.DATABASE_OWNER_URL)
    if owner["USER"] == connection.settings_dict["USER"]:
        return None
    return connect_params(connection, owner["USER"], owner["PASSWORD"])


def connect_params(connection, user=None, password=None) -> dict:
    """psycopg connection arguments for ``connection``'s PostgreSQL database, as ``user``
    (default: the connection's own user)."""
    db = connection.settings_dict
    params = {
        "host": db["HOST"],
        "port": db["PORT"],
        "user": user or db["USER"],
        "password": password if user else db["PASSWORD"],
        "dbname": db["NAME"],
    }
    return {k: v for k, v in params.items() if v}


@contextmanager
def owner_cursor(connection=None, lift_triggers=True, atomic=False):
    """A cursor with the owner's powers on the test database; the append-only triggers are
    lifted inside the block (unless ``lift_triggers`` is false) and put back after it. With
    ``atomic`` the whole block, lifting included, is one transaction; otherwise each statement
    commits on its own."""
    from django.db import connection as default_connection
    from django.db import transaction

    connection = connection or default_connection
    params = owner_params(connection)
    if params is None:
        with (
            transaction.atomic(using=connection.alias) if atomic else nullcontext(),
            connection.cursor() as cursor,
            _lifted(cursor, connection.vendor, lift_triggers),
        ):
            yield cursor
        return
    import psycopg

    with (
        psycopg.connect(autocommit=True, **params) as owner,
        owner.transaction() if atomic else nullcontext(),
        owner.cursor() as cursor,
        _lifted(cursor, "postgresql", lift_triggers),
    ):
        yield cursor


@contextmanager
def _lifted(cursor, vendor: str, lift: bool):
    if not lift:
        yield
        return
    for statement in drop_statements(vendor, LOCKED_TABLES):
        cursor.execute(statement)
    try:
        yield
    finally:
        for statement in install_statements(vendor, LOCKED_TABLES):
            cursor.execute(statement)


def flush_database() -> None:
    """Empty every table, ledger included, with the append-only triggers lifted for it only.

    On SQLite the flush is DELETE, which the triggers refuse, so they are dropped around it; on
    PostgreSQL the tests' backend already flushes as the owner with the triggers lifted.
    """
    from django.core.management import call_command
    from django.db import connection

    from evidence.db import drop_triggers, install_triggers

    if connection.vendor != "sqlite":
        call_command("flush", interactive=False, verbosity=0)
        return
    drop_triggers(connection, LOCKED_TABLES)
    try:
        call_command("flush", interactive=False, verbosity=0)
    finally:
        install_triggers(connection, LOCKED_TABLES)


def switch_role(owner: bool) -> None:
    """Point the default connection at the owner or back at the application role (tests'
    session set-up only; a no-op without a separate owner)."""
    from django.conf import settings
    from django.db import connections

    connection = connections["default"]
    if connection.vendor != "postgresql" or not settings.DATABASE_OWNER_URL:
        return
    db = connection.settings_dict
    if not _app_credentials:
        _app_credentials.update(USER=db["USER"], PASSWORD=db["PASSWORD"])
    credentials = _app_credentials
    if owner:
        parsed = dj_database_url.parse(settings.DATABASE_OWNER_URL)
        credentials = {"USER": parsed["USER"], "PASSWORD": parsed["PASSWORD"]}
    connection.close()
    db.update(credentials)
