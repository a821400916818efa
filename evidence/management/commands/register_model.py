from django.core.management.base import BaseCommand

from evidence.datasets import DatasetError
from evidence.keys import SigningKeyError
from evidence.ledger import LedgerError
from evidence.services import model_register
from evidence.storage import StorageError
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)


class Command(BaseCommand):
    help = "Record a model artifact's digest and the dataset it was trained on in the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--uri", required=True, help="file:///path/model.onnx or s3://...")
        parser.add_argument("--dataset", help="name of the registered dataset it was trained on")
        parser.add_argument("--json", action="store_true")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        with refusals_as_errors(DatasetError, StorageError, SigningKeyError, LedgerError):
            artifact = model_register(
                user=user,
                project=project,
                name=options["name"],
                uri=options["uri"],
                dataset=options["dataset"],
            )
        summary = {
            "model": artifact.name,
            "version": artifact.version,
            "sha256": artifact.sha256,
            "entry": artifact.entry.index,
        }
        self.stdout.write(
            dump(summary)
            if options["json"]
            else f"model {artifact.name} v{artifact.version} sha256 {artifact.sha256}"
        )
