"""``manage.py import_requirements FILE --project KEY [--map field=Header ...]``: CSV or XLSX."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.interchange.tables import TABLE_FIELDS, table_import
from compliance.management.commands.import_reqif import (
    add_on_violation_argument,
    read_upload,
    run_import,
    summary_line,
)
from compliance.models import RequirementKind
from projects.cli import add_actor_arguments, dump, resolve_actor, resolve_project


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        name, sep, header = pair.partition("=")
        if not sep or not name.strip() or not header.strip():
            raise CommandError(f"--map needs field=Header, got {pair!r}")
        mapping[name.strip()] = header.strip()
    return mapping


class Command(BaseCommand):
    help = "Import requirements from a .csv (UTF-8, ',' or ';') or .xlsx table."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=HEADER",
            help=f"column for a field ({', '.join(TABLE_FIELDS)}); repeat as needed",
        )
        parser.add_argument(
            "--default-kind", default=RequirementKind.FSR.value, choices=RequirementKind.values
        )
        add_on_violation_argument(parser)
        parser.add_argument("--json", action="store_true", help="print the import report")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        mapping = parse_mapping(options["map"])
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        data = read_upload(options["file"])
        report = run_import(
            table_import,
            user=user,
            project=project,
            data=data,
            filename=Path(options["file"]).name,
            mapping=mapping,
            default_kind=options["default_kind"],
            on_violation=options["on_violation"],
        )
        if options["json"]:
            self.stdout.write(dump(report.as_json()))
            return
        self.stdout.write(f"{options['file']}: {summary_line(report)}")
        for item in report.unmapped:
            where = f"row {item['row']}"
            self.stdout.write(f"  not imported: {where} ({item.get('code')}): {item['reason']}")
        for warning in report.warnings:
            self.stdout.write(f"  warning: {warning}")
