import json

from django.core.management.base import BaseCommand

from demo.seed import seed_demo


class Command(BaseCommand):
    help = "Create or complete the demo project AEB (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print a JSON summary")

    def handle(self, *args, **options):
        report = seed_demo()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {"project": report.project, "created": report.created, "notes": report.notes}
                )
            )
            return
        if report.created:
            self.stdout.write(f"Seeded {report.project}: " + ", ".join(report.created))
            for note in report.notes:
                self.stdout.write(f"  {note}")
        else:
            self.stdout.write(f"Demo project {report.project} already complete; nothing added.")
