from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from projects.cli import dump
from validation import ingestion


class Command(BaseCommand):
    help = (
        "Receive S3 announcements of new drives from the lake queue (SAFECASE_LAKE_QUEUE_URL) "
        "and start the runs of the campaigns watching them; runs until stopped unless --once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--queue-url", help="the SQS queue (default SAFECASE_LAKE_QUEUE_URL)")
        parser.add_argument("--wait", type=int, help="seconds each receive waits (0 to 20)")
        parser.add_argument("--once", action="store_true", help="one receive, then exit")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        queue_url = options["queue_url"] or settings.SAFECASE_LAKE_QUEUE_URL
        if not queue_url:
            raise CommandError("no queue: set SAFECASE_LAKE_QUEUE_URL or give --queue-url")
        wait = options["wait"]
        if wait is not None and not 0 <= wait <= 20:
            raise CommandError("--wait must be between 0 and 20 seconds (SQS's long-poll limit)")
        while True:
            done = ingestion.consume(queue_url, wait_seconds=wait)
            if options["json"]:
                self.stdout.write(
                    dump({"runs": done.runs, "deleted": done.deleted, "kept": done.kept})
                )
            else:
                for run in done.runs:
                    self.stdout.write(f"run {run} started")
                for reason in done.kept:
                    self.stderr.write(f"left on the queue: {reason}")
            if options["once"]:
                return
