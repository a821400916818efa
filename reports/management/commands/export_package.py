from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from evidence.keys import SigningKeyError
from evidence.ledger import LedgerError
from projects.cli import add_actor_arguments, dump, resolve_actor, resolve_project
from reports.package import signing_key_fingerprint
from reports.selectors import ReportError
from reports.services import export_package


class Command(BaseCommand):
    help = (
        "Write the certification package of a baseline (PDF evidence pack, the whole ledger, "
        "keys, verifier) and record the export in the ledger."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project key")
        parser.add_argument("--baseline", help="baseline name (default: the latest)")
        parser.add_argument("-o", "--output", required=True, help="the .zip file to write")
        parser.add_argument("--json", action="store_true", help="print a JSON summary")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        path = Path(options["output"])
        if not path.parent.is_dir():
            raise CommandError(f"cannot write {path}: the folder {path.parent} does not exist")
        try:
            export = export_package(
                user=user, project=project, path=path, baseline_name=options["baseline"]
            )
        except Http404 as exc:
            raise CommandError(f"no project with key {project.key!r}") from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except (ReportError, LedgerError, SigningKeyError) as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        package = export.package
        manifest = package.manifest
        summary = {
            "file": str(export.path),
            "sha256": package.sha256,
            "bytes": len(package.data),
            "project": project.key,
            "baseline": manifest["baseline"]["name"],
            "baseline_root": manifest["baseline"]["root"],
            "checkpoint": {
                "size": manifest["checkpoint"]["size"],
                "root": manifest["checkpoint"]["root"],
            },
            "cited": package.cited,
            "pages": package.pages,
            "ledger_entry": export.entry.index,
            # The signing key's fingerprint, which the regulator must obtain from the operator
            # (not from the package) to verify where the package came from.
            "fingerprint": signing_key_fingerprint(),
        }
        if options["json"]:
            self.stdout.write(dump(summary))
            return
        self.stdout.write(
            f"wrote {export.path} ({len(package.data):,} bytes, sha256 {package.sha256}): "
            f"{project.key} baseline {summary['baseline']}, {package.entries} ledger entries, "
            f"{package.pages} PDF pages, {package.cited} cited items; recorded as ledger entry "
            f"{export.entry.index}. Check it with: python verify.py {export.path.name} "
            f"--trusted-fingerprint {summary['fingerprint']}"
        )
