from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from evidence.db import (
    APP_READ_ONLY_TABLES,
    APP_UPDATABLE_TABLES,
    LOCKED_TABLES,
    RoleError,
    grant_app_role,
)


class Command(BaseCommand):
    help = (
        "As the schema's owner (DATABASE_OWNER_URL), grant the application role exactly what it "
        "may do: SELECT and INSERT on the ledger tables, UPDATE also on the log heads, full DML "
        "elsewhere; revoke everything else. Idempotent; migrate runs it by itself."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "role", nargs="?", help="the application role (default: the user of DATABASE_URL)"
        )

    def handle(self, *args, **options):
        role = options["role"] or settings.DATABASE_APP_USER
        if not role:
            raise CommandError("name the application role, or set DATABASE_URL with a user")
        try:
            tables = grant_app_role(connection, role)
        except RoleError as exc:
            raise CommandError(str(exc)) from exc
        kinds = [
            (LOCKED_TABLES, "SELECT, INSERT"),
            (APP_UPDATABLE_TABLES, "SELECT, INSERT, UPDATE"),
            (APP_READ_ONLY_TABLES, "SELECT"),
        ]
        listed = {t for names, _ in kinds for t in names}
        for names, privileges in kinds:
            present = [t for t in names if t in tables]
            if present:
                self.stdout.write(f"{role}: {privileges} on {', '.join(present)}")
        others = len([t for t in tables if t not in listed])
        self.stdout.write(f"{role}: SELECT, INSERT, UPDATE, DELETE on {others} other tables")
