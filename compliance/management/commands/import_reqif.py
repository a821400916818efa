"""``manage.py import_reqif FILE --project KEY``: import a ReqIF document or archive."""

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from compliance.interchange.common import check_upload_size
from compliance.interchange.reqif import reqif_import
from compliance.links import ON_VIOLATION, REFUSE
from compliance.models import RequirementKind
from compliance.reqif.profiles import PROFILES
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)


def read_upload(path: str) -> bytes:
    """The file's bytes, refused before reading when it is over the upload limit."""
    file = Path(path)
    try:
        check_upload_size(file.stat().st_size)
        return file.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    except ValidationError as exc:
        raise CommandError("; ".join(exc.messages)) from exc


def add_on_violation_argument(parser) -> None:
    parser.add_argument(
        "--on-violation",
        default=REFUSE,
        choices=ON_VIOLATION,
        help="a link breaking a trace-link rule refuses the whole import (refuse, the default) "
        "or is noted in the report while the rest is imported (note)",
    )


def run_import(service, **kwargs):
    """Call an import service, turning its refusals into one-line command errors."""
    with refusals_as_errors(PermissionDenied, Http404):
        return service(**kwargs)


def summary_line(report) -> str:
    return (
        f"{report.requirements} requirements, {report.headings} headings "
        f"({report.created} created, {report.updated} updated, {report.unchanged} unchanged), "
        f"{report.links} links, {len(report.unmapped)} not imported, "
        f"{len(report.warnings)} warnings"
    )


class Command(BaseCommand):
    help = "Import requirements, headings and links from a .reqif or .reqifz file."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--default-kind",
            default=RequirementKind.FSR.value,
            choices=RequirementKind.values,
            help="kind of requirements whose file gives none (default FSR)",
        )
        add_on_violation_argument(parser)
        parser.add_argument(
            "--profile",
            default="auto",
            choices=["auto", *PROFILES],
            help="the tool whose ReqIF dialect the file speaks (default: detected from the "
            "header's source tool)",
        )
        parser.add_argument("--json", action="store_true", help="print the import report")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        data = read_upload(options["file"])
        report = run_import(
            reqif_import,
            user=user,
            project=project,
            data=data,
            filename=Path(options["file"]).name,
            default_kind=options["default_kind"],
            on_violation=options["on_violation"],
            profile=options["profile"],
        )
        if options["json"]:
            self.stdout.write(dump(report.as_json()))
            return
        self.stdout.write(
            f"{options['file']} ({report.tool or 'unknown tool'}): {summary_line(report)}"
        )
        for item in report.unmapped:
            self.stdout.write(f"  not imported: {item['relation']}: {item['reason']}")
        for warning in report.warnings:
            self.stdout.write(f"  warning: {warning}")
        for item in report.not_preserved:
            self.stdout.write(f"  not preserved: {item}")
