from django.core.management.base import BaseCommand, CommandError

from evidence.keys import (
    SigningKeyError,
    fingerprint_for,
    generate_key_file,
    key_id_for,
    key_path,
    load_signing_key,
    log_name,
)
from evidence.ledger import LedgerError, register_key
from evidence.publication import publish_vkey
from evidence.services import signing_key_rotate
from evidence.storage import StorageError
from projects.cli import dump, refusals_as_errors


class Command(BaseCommand):
    help = (
        "Create the installation's Ed25519 ledger signing key, publish its public key to the "
        "store's keys/ folder and print its fingerprint (what a regulator trusts). --rotate "
        "replaces it through a rotation statement signed by both keys, so the old key stays "
        "trusted and earlier checkpoints still verify."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="replace the existing key: sign a rotation statement with the old and the new "
            "key, publish it and record it in every project's log, then switch",
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when a key exists already"
        )
        parser.add_argument("--json", action="store_true", help="print a JSON summary")

    def handle(self, *args, **options):
        path = key_path()
        with refusals_as_errors(SigningKeyError, StorageError, LedgerError):
            if options["rotate"]:
                if not path.exists():
                    raise CommandError("there is no signing key to rotate: run without --rotate")
                rotation = signing_key_rotate()
                summary = {
                    "key": rotation.next,
                    "fingerprint": rotation.fingerprint,
                    "previous": rotation.previous,
                    "rotation_statement": rotation.statement_key,
                    "logs": rotation.projects,
                }
                text = (
                    f"signing key rotated from {rotation.previous} to {rotation.next}; "
                    f"rotation statement {rotation.statement_key} recorded in "
                    f"{rotation.projects} project logs\nfingerprint {rotation.fingerprint}"
                )
            elif path.exists():
                if not options["if_missing"]:
                    raise CommandError("a signing key exists already; pass --rotate to replace it")
                summary, text = self._publish(load_signing_key().public, created=False)
                if not options["json"]:
                    return
            else:
                summary, text = self._publish(generate_key_file(path), created=True)
        self.stdout.write(dump(summary) if options["json"] else text)

    def _publish(self, public: bytes, *, created: bool) -> tuple[dict, str]:
        register_key(load_signing_key())
        store_key = publish_vkey(log_name(), public)
        name = f"{log_name()}+{key_id_for(public)}"
        fingerprint = fingerprint_for(public)
        summary = {"key": name, "fingerprint": fingerprint, "public_key": store_key}
        what = "created" if created else "exists"
        return summary, f"signing key {name} {what}; public key in the store at {store_key}\n" + (
            f"fingerprint {fingerprint}"
        )
