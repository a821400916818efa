from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from compliance.selectors import requirement_choices
from evidence.handoff import HandoffError, package_import, read_policy, read_trusted_keys
from evidence.ledger import LedgerError
from evidence.storage import StorageError
from projects.cli import add_actor_arguments, dump, resolve_actor, resolve_project


class Command(BaseCommand):
    help = (
        "Import a supplier's certification package (ISO 26262-8 development interface "
        "agreement): verify it against the supplier's key and a witness policy, keep it as an "
        "artifact and record its checkpoint and the supplier's requirements in the ledger."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the supplier's certification package (.zip)")
        parser.add_argument("--project", required=True, help="the importing project's key")
        parser.add_argument(
            "--trusted-key",
            required=True,
            action="append",
            help="the supplier's verifier key file, obtained from the supplier out of band",
        )
        parser.add_argument("--witness-policy", help="witness keys and a quorum (k of n)")
        parser.add_argument(
            "--cite",
            action="append",
            default=[],
            metavar="LOCAL=SUPPLIER",
            help="a requirement of this project that cites a supplier requirement (repeatable)",
        )
        parser.add_argument("--json", action="store_true", help="print a JSON summary")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        citations = {}
        for text in options["cite"]:
            local, sep, supplier = text.partition("=")
            if not sep or not local.strip() or not supplier.strip():
                raise CommandError(f"--cite {text}: write LOCAL=SUPPLIER (two requirement codes)")
            if local.strip() in citations:
                raise CommandError(f"--cite: {local.strip()} is given twice")
            citations[local.strip()] = supplier.strip()
        try:
            keys = []
            for path in options["trusted_key"]:
                keys.extend(read_trusted_keys(path))
            policy = read_policy(options["witness_policy"]) if options["witness_policy"] else None
            local = set(requirement_choices(project=project).values_list("code", flat=True))
            package = package_import(
                user=user,
                project=project,
                path=options["file"],
                trusted_keys=keys,
                policy=policy,
                policy_name=options["witness_policy"] or "",
                citations=citations,
                local_requirements=local,
            )
        except Http404 as exc:
            raise CommandError(f"{user.username} is not a member of {project.key}") from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc) or "not allowed") from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except (HandoffError, LedgerError, StorageError) as exc:
            raise CommandError(str(exc)) from exc
        claims = list(package.claims.all())
        summary = {
            "project": project.key,
            "file": options["file"],
            "sha256": package.sha256,
            "origin": package.origin,
            "checkpoint": {"size": package.size, "root": package.root},
            "supplier_project": package.supplier_project,
            "baseline": package.baseline,
            "ledger_entry": package.entry.index,
            "claims": [
                {"code": c.code, "result": c.result or None, "cited_by": c.cited_by or None}
                for c in claims
            ],
        }
        if options["json"]:
            self.stdout.write(dump(summary))
            return
        verified = sum(1 for c in claims if c.result == "pass")
        self.stdout.write(
            f"imported {options['file']} (sha256 {package.sha256}) into {project.key}: "
            f"{package.origin} checkpoint {package.size}, {len(claims)} supplier requirements "
            f"({verified} verified), recorded as ledger entry {package.entry.index}"
        )
