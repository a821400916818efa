"""The database as a locked room (PostgreSQL): what the application role cannot do.

Each attack is a statement an insider with the application's database login would try, sent on
a real connection as a role granted exactly as ``grant_app_role`` grants it; each is refused by
PostgreSQL, and the ledger and its triggers are left as they were. SELECT and INSERT still work.
The owner's own TRUNCATE is refused by the statement-level trigger.
"""

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from evidence import ledger
from evidence.db import (
    APP_READ_ONLY_TABLES,
    APP_UPDATABLE_TABLES,
    APPEND_ONLY_TABLES,
    LOCKED_TABLES,
    grant_with,
)
from evidence.ledger import Record, Subject
from projects.models import Project
from tests.owner import connect_params, flush_database, owner_params

pytestmark = pytest.mark.postgres

APP_ROLE = "safecase_app_test"
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
LEDGER_TRIGGERS = len(LOCKED_TABLES) * 2  # a row trigger and a TRUNCATE trigger each


@pytest.fixture(scope="module")
def log(django_db_setup, django_db_blocker, tmp_path_factory):
    """A committed log of three entries, once for the module: no attack may change it, and
    every connection below sees it. Its own store, so no other test meets its checkpoints."""
    if connection.vendor != "postgresql":
        pytest.skip("roles, grants and TRUNCATE are PostgreSQL's")
    store = tmp_path_factory.mktemp("locked-room-store").as_uri()
    with django_db_blocker.unblock(), override_settings(SAFECASE_STORAGE_URL=store):
        project = Project.objects.create(key="ROOM", name="Locked room")
        ledger.append(
            project, [Record("decision", [Subject(f"d{i}", f"{i:064x}")]) for i in (1, 2)]
        )
        ledger.append(project, [Record("decision", [Subject("d3", "3" * 64)])])
        yield project
        flush_database()


@pytest.fixture(scope="module")
def owner(log):
    """A connection of the owner's (a connection of its own, so that no lock a test's
    transaction holds is in an attack's way)."""
    with psycopg.connect(
        autocommit=True, **(owner_params(connection) or connect_params(connection))
    ) as conn:
        yield conn


@pytest.fixture(scope="module")
def app(owner):
    """A connection as a fresh application role, granted by the owner as migrate grants."""
    owner.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') "
        f"THEN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END $$"
    )
    with owner.transaction():
        grant_with(owner.cursor(), APP_ROLE)
    with psycopg.connect(autocommit=True, **connect_params(connection, APP_ROLE)) as conn:
        yield conn


def ledger_state(owner):
    """What an attack must leave unchanged: the entries, and every ledger trigger enabled."""
    (enabled,) = owner.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgenabled = 'O' AND tgname ~ %s",
        ["^evidence_.*_(append_only|no_truncate)$"],
    ).fetchone()
    entries = owner.execute(
        'SELECT "index", subject, kind, envelope FROM evidence_logentry ORDER BY "index"'
    ).fetchall()
    heads = owner.execute("SELECT size, root FROM evidence_loghead").fetchall()
    return enabled, entries, heads


DENIED = "permission denied for table"  # the privilege, before any trigger is reached
NOT_OWNER = "must be owner of (table|relation)"
ATTACKS = {
    "update an entry": ("UPDATE evidence_logentry SET kind = 'report'", DENIED),
    "delete an entry": ("DELETE FROM evidence_logentry", DENIED),
    "delete the head": ("DELETE FROM evidence_loghead", DENIED),
    **{f"truncate {t}": (f"TRUNCATE {t} CASCADE", DENIED) for t in LOCKED_TABLES},
    "disable the triggers": ("ALTER TABLE evidence_logentry DISABLE TRIGGER ALL", NOT_OWNER),
    "disable one trigger": (
        "ALTER TABLE evidence_logentry DISABLE TRIGGER evidence_logentry_append_only",
        NOT_OWNER,
    ),
    "replica mode": (
        "SET session_replication_role = replica",
        "permission denied to set parameter",
    ),
    "drop the trigger": (
        "DROP TRIGGER evidence_logentry_append_only ON evidence_logentry",
        NOT_OWNER,
    ),
    "drop the TRUNCATE trigger": (
        "DROP TRIGGER evidence_checkpoint_no_truncate ON evidence_checkpoint",
        NOT_OWNER,
    ),
    "replace the trigger function": (
        "CREATE OR REPLACE FUNCTION safecase_refuse_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        # Refused for want of CREATE in the schema (PostgreSQL 15), else for not owning it.
        "must be owner of function|permission denied for schema",
    ),
    "drop the trigger function": (
        "DROP FUNCTION safecase_refuse_change() CASCADE",
        "must be owner of function",
    ),
    "take the table": (f"ALTER TABLE evidence_logentry OWNER TO {APP_ROLE}", NOT_OWNER),
    "drop the table": ("DROP TABLE evidence_logentry CASCADE", NOT_OWNER),
    "become the owner": ("SET ROLE postgres", "permission denied to set role"),
    "become superuser": (f"ALTER ROLE {APP_ROLE} SUPERUSER", "must be superuser"),
}


@pytest.mark.parametrize(("statement", "refusal"), ATTACKS.values(), ids=ATTACKS.keys())
def test_the_application_role_cannot(app, owner, statement, refusal):
    before = ledger_state(owner)
    assert before[0] == LEDGER_TRIGGERS and len(before[1]) == 3
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refusal):
        app.execute(statement)
    # Refused before anything changed, and the role gained nothing for a next statement.
    assert ledger_state(owner) == before
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=DENIED):
        app.execute("UPDATE evidence_logentry SET kind = 'report'")
    assert app.execute("SHOW session_replication_role").fetchone() == ("origin",)


def test_the_application_role_still_reads_and_appends(app, owner):
    for table in APPEND_ONLY_TABLES:
        (count,) = app.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        assert count > 0, table
    # What an append does, in a transaction rolled back so the module's log stays as it is.
    with app.transaction(force_rollback=True):
        app.execute(
            "INSERT INTO evidence_signingkey (key_id, name, public_key, created_at) "
            "VALUES ('0123456789abcdef', 'test', %s, now())",
            [b"\0" * 32],
        )
        assert app.execute(
            "SELECT count(*) FROM evidence_signingkey WHERE name = 'test'"
        ).fetchone() == (1,)
        # The head moves on under its row lock, which the role therefore may update.
        app.execute("SELECT size FROM evidence_loghead FOR UPDATE")
        app.execute("UPDATE evidence_loghead SET size = size")
        # Ordinary tables keep full DML.
        app.execute("UPDATE projects_project SET name = 'x' WHERE key = 'ROOM'")
        app.execute("DELETE FROM projects_membership")


def expected_privileges(table: str) -> set[str]:
    if table in LOCKED_TABLES:
        return {"SELECT", "INSERT"}
    if table in APP_UPDATABLE_TABLES:
        return {"SELECT", "INSERT", "UPDATE"}
    if table in APP_READ_ONLY_TABLES:
        return {"SELECT"}
    return {"SELECT", "INSERT", "UPDATE", "DELETE"}


def test_the_role_is_granted_exactly_its_table_list(app):
    rows = app.execute(
        "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = current_schema()"
    ).fetchall()
    assert APP_ROLE not in {owner for _, owner in rows}
    tables = {t for t, _ in rows}
    assert set(APPEND_ONLY_TABLES) | set(APP_UPDATABLE_TABLES) | set(APP_READ_ONLY_TABLES) <= tables
    assert "evidence_loghead" in APP_UPDATABLE_TABLES and "evidence_logentry" in APPEND_ONLY_TABLES
    for table in tables:
        allowed = expected_privileges(table)
        for privilege in PRIVILEGES:
            (has,) = app.execute(
                "SELECT has_table_privilege(current_user, %s, %s)", [table, privilege]
            ).fetchone()
            assert has == (privilege in allowed), (table, privilege)
    assert app.execute(
        "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).fetchone() == (False, False, False)


@pytest.mark.parametrize("table", LOCKED_TABLES)
def test_even_the_owner_cannot_truncate_a_ledger_table(owner, table):
    before = ledger_state(owner)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only .TRUNCATE on"):
        owner.execute(f"TRUNCATE {table} CASCADE")
    assert ledger_state(owner) == before


def test_granting_twice_changes_nothing(app, owner):
    def grants():
        return app.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = current_user ORDER BY 1, 2"
        ).fetchall()

    first = grants()
    with owner.transaction():
        grant_with(owner.cursor(), APP_ROLE)
    assert grants() == first


@pytest.mark.parametrize(
    ("role", "message"),
    [("postgres", "is a superuser"), ("no_such_role_at_all", "there is no database role")],
)
def test_grant_app_role_refuses_a_role_that_could_lift_the_triggers(db, role, message):
    if connection.vendor != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    with pytest.raises(CommandError, match=message):
        call_command("grant_app_role", role)


def test_the_suite_runs_as_the_application_role(db):
    """With DATABASE_OWNER_URL set the tests connect as DATABASE_URL's role, not the owner."""
    if connection.vendor != "postgresql" or not settings.DATABASE_OWNER_URL:
        pytest.skip("no separate owner configured (DATABASE_OWNER_URL)")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, has_table_privilege('evidence_logentry', 'UPDATE'), "
            "has_table_privilege('evidence_logentry', 'INSERT')"
        )
        assert cursor.fetchone() == (settings.DATABASE_APP_USER, False, True)
