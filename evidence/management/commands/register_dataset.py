import sys
import time

from django.core.management.base import BaseCommand

from evidence.datasets import DatasetError
from evidence.keys import SigningKeyError
from evidence.ledger import LedgerError
from evidence.services import dataset_register
from evidence.storage import StorageError
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)


class Progress:
    def __init__(self, stream):
        self.stream, self.last = stream, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last > 0.5 or done == total:
            self.last = now
            pct = 100.0 * done / total if total else 100.0
            self.stream.write(
                f"\rhashing {done / 2**20:,.0f} / {total / 2**20:,.0f} MiB ({pct:.0f}%)"
            )
            if done == total:
                self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = "Snapshot a dataset (file:///path or s3://bucket/prefix) into the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--uri", required=True)
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--quiet", action="store_true", help="no progress line")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        progress = None if options["quiet"] or options["json"] else Progress(sys.stderr)
        with refusals_as_errors(DatasetError, StorageError, SigningKeyError, LedgerError):
            artifact = dataset_register(
                user=user,
                project=project,
                name=options["name"],
                uri=options["uri"],
                progress=progress,
            )
        summary = {
            "dataset": artifact.name,
            "version": artifact.version,
            "objects": artifact.object_count,
            "bytes": artifact.total_bytes,
            "merkle_root": artifact.sha256,
            "manifest": artifact.manifest_key,
            "entry": artifact.entry.index,
        }
        if options["json"]:
            self.stdout.write(dump(summary))
        else:
            self.stdout.write(
                f"dataset {artifact.name} v{artifact.version}: {artifact.object_count} objects, "
                f"{artifact.total_bytes} bytes, root {artifact.sha256}, "
                f"ledger entry {summary['entry']}"
            )
