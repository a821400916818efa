"""``manage.py import_xlsx FILE --project KEY``: bring an edited ``export_xlsx`` workbook back;
safe changes are applied, conflicts reported (see :mod:`compliance.interchange.workbook`)."""

from pathlib import Path

from django.core.management.base import BaseCommand

from compliance.interchange.workbook import xlsx_reimport
from compliance.management.commands.import_reqif import read_upload, run_import
from projects.cli import add_actor_arguments, dump, resolve_actor, resolve_project


class Command(BaseCommand):
    help = "Re-import an edited requirements workbook: apply safe changes, report conflicts."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change; write nothing"
        )
        parser.add_argument("--json", action="store_true", help="print the report")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        data = read_upload(options["file"])
        report = run_import(
            xlsx_reimport,
            user=user,
            project=project,
            data=data,
            filename=Path(options["file"]).name,
            apply=not options["dry_run"],
        )
        if options["json"]:
            self.stdout.write(dump(report.as_json()))
            return
        verb = "would apply" if options["dry_run"] else "applied"
        self.stdout.write(
            f"{options['file']}: {verb} {len(report.applied)} changes, created "
            f"{len(report.created)}, {len(report.conflicts)} conflicts, {len(report.refused)} "
            f"refused, {report.unchanged} unchanged"
        )
        for item in report.conflicts:
            self.stdout.write(
                f"  conflict, row {item['row']} ({item['code']}): sheet changed "
                f"{', '.join(item['sheet']) or '-'}; Safecase changed "
                f"{', '.join(item['safecase']) or 'it'} (now version {item['safecase_version']})"
            )
        for item in report.refused:
            self.stdout.write(f"  refused, row {item['row']} ({item['code']}): {item['reason']}")
