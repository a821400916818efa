from django.core.management.base import BaseCommand, CommandError

from evidence.keys import SigningKeyError
from evidence.ledger import LedgerError
from evidence.membership import memberships_record_existing
from projects.cli import dump, refusals_as_errors, resolve_project
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Record in the ledger every membership that has no entry yet (made before memberships "
        "were ledgered). Exits non-zero when a membership differs from its entry."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="one project (default: every project)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        projects = (
            [resolve_project(options["project"])]
            if options["project"]
            else list(Project.objects.order_by("key"))
        )
        summary, differing = {}, []
        for project in projects:
            with refusals_as_errors(SigningKeyError, LedgerError):
                result = memberships_record_existing(project=project)
            summary[project.key] = {"recorded": result.recorded, "differing": result.differing}
            differing += [f"{project.key} {d}" for d in result.differing]
            if not options["json"]:
                for username in result.recorded:
                    self.stdout.write(f"{project.key}: recorded the membership of {username}")
        if options["json"]:
            self.stdout.write(dump(summary))
        if differing:
            raise CommandError(
                f"{len(differing)} membership(s) differ from the ledger and were left as "
                f"recorded; change them through the API: {'; '.join(differing)}"
            )
