"""The witnesses' cosignatures become append-only, like the rest of the ledger: UPDATE and
DELETE refused on PostgreSQL and SQLite, TRUNCATE on PostgreSQL. Installed here, after 0007
created the table (0002 runs on a fresh database before it exists)."""

from django.db import migrations

from evidence.db import LATER_APPEND_ONLY_TABLES, drop_statements, execute, install_statements


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    execute(connection, install_statements(connection.vendor, LATER_APPEND_ONLY_TABLES))


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    execute(connection, drop_statements(connection.vendor, LATER_APPEND_ONLY_TABLES))


class Migration(migrations.Migration):
    dependencies = [("evidence", "0008_supplier_packages")]

    operations = [migrations.RunPython(forwards, backwards)]
