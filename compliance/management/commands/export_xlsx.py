"""``manage.py export_xlsx --project KEY -o FILE``: requirements as a workbook to edit and
bring back with ``import_xlsx`` (see :mod:`compliance.interchange.workbook`)."""

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from compliance.interchange.workbook import xlsx_export
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)


class Command(BaseCommand):
    help = "Export a project's requirements to .xlsx with stable ids and a digest per row."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("-o", "--output", required=True, help="the .xlsx file to write")
        parser.add_argument("--json", action="store_true", help="print a JSON summary")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        with refusals_as_errors(PermissionDenied, Http404):
            data = xlsx_export(user=user, project=project)
        output = Path(options["output"])
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"cannot write {options['output']}: {exc.strerror}") from exc
        if options["json"]:
            self.stdout.write(dump({"file": options["output"], "bytes": len(data)}))
        else:
            self.stdout.write(f"wrote {len(data):,} bytes to {options['output']}")
