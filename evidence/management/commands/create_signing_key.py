from django.core.management.base import BaseCommand, CommandError

from evidence.keys import generate_key_file, key_id_for, key_path, load_signing_key, log_name
from evidence.ledger import register_key


class Command(BaseCommand):
    help = (
        "Create the installation's Ed25519 ledger signing key, or replace it with --rotate. "
        "Old public keys stay registered, so earlier checkpoints still verify."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rotate", action="store_true", help="replace an existing key")
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when a key exists already"
        )

    def handle(self, *args, **options):
        path = key_path()
        if path.exists() and not options["rotate"]:
            if options["if_missing"]:
                register_key(load_signing_key())
                return
            raise CommandError(f"a signing key exists at {path}; pass --rotate to replace it")
        public = generate_key_file(path)
        register_key(load_signing_key())
        self.stdout.write(f"signing key {log_name()}+{key_id_for(public)} written to {path}")
