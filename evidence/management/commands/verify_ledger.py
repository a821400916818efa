import json

from django.core.management.base import BaseCommand, CommandError

from evidence.verification import remember, verify_project
from projects.cli import resolve_projects


class Command(BaseCommand):
    help = (
        "Recompute every leaf hash and root of the project logs and compare them with every "
        "checkpoint, in the database and as published to the store. Exit 0 only if intact."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="only this project's log")
        parser.add_argument(
            "--signatures", action="store_true", help="also check every entry's signature"
        )
        parser.add_argument("--json", action="store_true", help="print a JSON summary")

    def handle(self, *args, **options):
        projects = resolve_projects(options["project"])
        results = []
        for project in projects:
            results.append(verify_project(project, signatures=options["signatures"]))
            # the dashboard shows the last check: with a shared cache, this one too
            remember(project, results[-1])
        bad = next((r for r in results if not r.ok), None)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": bad is None,
                        "entries": sum(r.entries for r in results),
                        "project": bad.project if bad else options["project"],
                        "first_bad_index": bad.first_bad_index if bad else None,
                        "problems": [f"{r.project}: {p}" for r in results for p in r.problems],
                    }
                )
            )
        else:
            for r in results:
                state = "intact" if r.ok else "NOT INTACT"
                self.stdout.write(
                    f"{r.project}: {r.entries} entries, {r.checkpoints} checkpoints "
                    f"({r.published} published, {r.unpublished} not yet), "
                    f"{r.signatures_checked} signatures checked: {state}"
                )
                for problem in r.problems:
                    self.stdout.write(f"  {problem}")
        if bad is not None:
            where = f" at entry {bad.first_bad_index}" if bad.first_bad_index is not None else ""
            raise CommandError(f"ledger of {bad.project} does not verify{where}: {bad.problems[0]}")
