"""``manage.py export_reqif --project KEY -o FILE``: the project's requirements as ReqIF 1.2.

A ``.reqifz`` output is an archive holding the document and the files its embedded objects
refer to; a ``.reqif`` output cannot hold those files, and the report says so.
"""

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from compliance.interchange.reqif import reqif_export_with_report
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)


class Command(BaseCommand):
    help = "Export requirements, headings and links of a project to a ReqIF 1.2 file."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "-o", "--output", required=True, help="the .reqif or .reqifz file to write"
        )
        parser.add_argument("--json", action="store_true", help="print a JSON summary")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        with refusals_as_errors(PermissionDenied, Http404):
            result = reqif_export_with_report(user=user, project=project)
        output = Path(options["output"])
        data = result.data
        not_preserved = list(result.not_preserved)
        if output.suffix.lower() == ".reqifz":
            data = result.archive(output.with_suffix(".reqif").name)
        elif result.files:
            not_preserved.append(
                f"{len(result.files)} embedded object files not written: a .reqif holds no "
                "files; export to .reqifz to keep them"
            )
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}") from exc
        if options["json"]:
            summary = result.as_json()
            summary.update({"file": options["output"], "bytes": len(data)})
            summary["not_preserved"] = not_preserved
            self.stdout.write(dump(summary))
        else:
            self.stdout.write(f"wrote {len(data):,} bytes of ReqIF to {options['output']}")
            for item in not_preserved:
                self.stdout.write(f"  not preserved: {item}")
