"""The test database: migrated once into a template, then copied for each test process.

The ledger's append-only triggers come with the migrations, so the tests always migrate (never
``--nomigrations``); migrating from nothing takes seconds on SQLite and tens of seconds on
PostgreSQL. Each pytest-xdist worker needs a database of its own, so the first process to get
there migrates a template under a lock and every process copies it:

- PostgreSQL: the owner migrates ``<test database>_tpl_<key>`` and each process gets
  ``CREATE DATABASE <its test database> TEMPLATE ...``, a copy of files;
- SQLite: the migrated in-memory database is saved to ``var/test-db/sqlite-<key>.sqlite3``
  and each process loads it into its own in-memory database with SQLite's backup API.

The key is a digest of what decides the migrated schema: every migration file, the modules the
migrations take code from (the ledger triggers are ``evidence.db``'s), the user model and the
Django version. Templates stay between runs, so a second run does not migrate at all; a new key
builds a new template and removes the old ones, and ``--create-db`` rebuilds it regardless. What
``post_migrate`` derives from the code rather than from the migrations (content types,
permissions and the application role's grants) is applied again to every copy.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import os
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

#: Part of the key: a change to how templates are built must not reuse older ones.
LAYOUT = "1"


def setup(*, verbosity: int, keepdb: bool, rebuild: bool, run_id: str) -> list:
    """Create the default test database (its name already carries the worker's suffix) and
    point the connection at it; returns ``old_config`` for Django's ``teardown_databases``.

    ``keepdb`` (``--reuse-db``) keeps Django's own way: the database is reused, never copied.
    ``rebuild`` (``--create-db``) rebuilds the template once per run (``run_id``)."""
    from django.db import DEFAULT_DB_ALIAS, connections

    connection = connections[DEFAULT_DB_ALIAS]
    old_name = connection.settings_dict["NAME"]
    creation = connection.creation
    if keepdb or connection.vendor not in ("postgresql", "sqlite"):
        creation.create_test_db(
            verbosity=verbosity, autoclobber=True, keepdb=keepdb, serialize=False
        )
    elif connection.vendor == "postgresql":
        _postgresql(connection, verbosity, rebuild, run_id)
    elif creation.is_in_memory_db(creation._get_test_db_name()):
        _sqlite(connection, verbosity, rebuild, run_id)
    else:  # a named SQLite file (TEST NAME): Django's own way
        creation.create_test_db(verbosity=verbosity, autoclobber=True, serialize=False)
    return [(connection, old_name, True)]


def template_key() -> str:
    """A digest of the migrations and of everything they take code from (see the docstring)."""
    import django
    from django.conf import settings
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    django_root = Path(django.__file__).parent
    files: set[Path] = set()
    for migration in loader.disk_migrations.values():
        module = sys.modules[type(migration).__module__]
        files.add(Path(module.__file__))
        for value in vars(module).values():
            source = _source_file(value)
            if source is not None and django_root not in source.parents:
                files.add(source)
    digest = hashlib.sha256(
        f"{LAYOUT}\n{django.__version__}\n{settings.AUTH_USER_MODEL}\n".encode()
    )
    for path in sorted(files):
        digest.update(f"{path.name}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _source_file(value) -> Path | None:
    module = value if isinstance(value, ModuleType) else inspect.getmodule(value)
    path = getattr(module, "__file__", None)
    return Path(path) if path and path.endswith(".py") else None


def _reapply_post_migrate(connection, verbosity: int) -> None:
    """Content types, permissions and the application role's grants, as ``migrate`` ends."""
    from django.core.management.sql import emit_post_migrate_signal

    emit_post_migrate_signal(max(verbosity - 1, 0), False, connection.alias)


def _point_at(connection, name: str) -> None:
    from django.conf import settings

    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = name
    connection.settings_dict["NAME"] = name


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def _postgresql(connection, verbosity: int, rebuild: bool, run_id: str) -> None:
    creation = connection.creation
    quote = connection.ops.quote_name
    target = creation._get_test_db_name()
    prefix = f"test_{connection.settings_dict['NAME']}"[:40] + "_tpl_"
    template = prefix + template_key()
    with creation._nodb_cursor() as cursor:
        # Advisory locks belong to a database: every process takes it on the maintenance one.
        cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [prefix])
        try:
            cursor.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                [template],
            )
            row = cursor.fetchone()
            if row is None or (rebuild and row[0] != run_id):
                _build_postgresql(connection, cursor, template, prefix, verbosity, run_id)
            if verbosity >= 1:
                print(f"Copying test database {target} from {template}...", file=sys.stderr)
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(target)}")
            cursor.execute(f"CREATE DATABASE {quote(target)} TEMPLATE {quote(template)}")
        finally:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [prefix])
    _point_at(connection, target)
    _reapply_post_migrate(connection, verbosity)


def _build_postgresql(connection, cursor, template, prefix, verbosity, run_id) -> None:
    """Migrate a new database as the connection's role (the owner) and make it ``template``;
    drop the templates of other keys. The caller holds the lock."""
    quote = connection.ops.quote_name
    test_settings = connection.settings_dict["TEST"]
    old_name, old_test_name = connection.settings_dict["NAME"], test_settings.get("NAME")
    building = prefix + "new"
    test_settings["NAME"] = building
    try:
        connection.creation.create_test_db(verbosity=verbosity, autoclobber=True, serialize=False)
    finally:
        test_settings["NAME"] = old_test_name
        _point_at(connection, old_name)
    cursor.execute(f"DROP DATABASE IF EXISTS {quote(template)}")
    cursor.execute(f"ALTER DATABASE {quote(building)} RENAME TO {quote(template)}")
    # Nobody connects to a template: a session on it would make every copy fail.
    cursor.execute(f"ALTER DATABASE {quote(template)} WITH ALLOW_CONNECTIONS false")
    cursor.execute(f"COMMENT ON DATABASE {quote(template)} IS %s", [run_id])
    cursor.execute(
        "SELECT datname FROM pg_database WHERE starts_with(datname, %s) AND datname <> %s",
        [prefix, template],
    )
    for (stale,) in cursor.fetchall():
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(stale)}")


# --------------------------------------------------------------------------------------------
# SQLite
# --------------------------------------------------------------------------------------------


def _sqlite(connection, verbosity: int, rebuild: bool, run_id: str) -> None:
    from django.conf import settings

    folder = Path(settings.VAR_DIR) / "test-db"
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / f"sqlite-{template_key()}.sqlite3"
    built_by = template.with_suffix(".run")
    with _file_lock(folder / "sqlite.lock"):
        if not template.exists() or (rebuild and _read(built_by) != run_id):
            # Migrate the in-memory test database as Django does, then save it as the template.
            connection.creation.create_test_db(
                verbosity=verbosity, autoclobber=True, serialize=False
            )
            partial = template.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            saved = sqlite3.connect(partial)
            connection.connection.backup(saved)
            saved.close()
            os.replace(partial, template)
            built_by.write_text(run_id)
            for stale in folder.glob("sqlite-*"):
                if stale.stem != template.stem:
                    stale.unlink(missing_ok=True)
            return
    if verbosity >= 1:
        print(f"Loading the in-memory test database from {template.name}...", file=sys.stderr)
    _point_at(connection, connection.creation._get_test_db_name())
    connection.ensure_connection()
    source = sqlite3.connect(f"file:{template}?mode=ro", uri=True)
    try:
        source.backup(connection.connection)
    finally:
        source.close()
    _reapply_post_migrate(connection, verbosity)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


@contextmanager
def _file_lock(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
