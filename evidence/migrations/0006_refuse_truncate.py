"""PostgreSQL: statement-level triggers refuse TRUNCATE on the ledger tables.

TRUNCATE fires no row triggers, so the append-only triggers of 0002 let it through. SQLite has
no TRUNCATE (its ``DELETE`` without ``WHERE`` fires the row triggers), so this does nothing there.
"""

from django.db import migrations

from evidence.db import execute, truncate_drop_statements, truncate_install_statements


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    execute(connection, truncate_install_statements(connection.vendor))


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    execute(connection, truncate_drop_statements(connection.vendor))


class Migration(migrations.Migration):
    dependencies = [("evidence", "0005_pending_publication")]

    operations = [migrations.RunPython(forwards, backwards)]
