from django.core.management.base import BaseCommand, CommandError

from evidence.publication import PublishReport, publish_pending, reconcile, removed_from_store
from evidence.storage import StorageError, default_store
from evidence.trust import load_trust
from projects.cli import dump, resolve_projects
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Publish to the store every checkpoint still queued for publication (for instance "
        "after the store refused writes). Exit 0 only if every checkpoint is then published."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="only this project's log")
        parser.add_argument(
            "--all",
            action="store_true",
            help="also republish checkpoints missing from the store that were not queued (that "
            "is, removed from it), once verify_ledger has shown the log intact",
        )
        parser.add_argument("--json", action="store_true", help="print a JSON summary")

    def handle(self, *args, **options):
        projects = resolve_projects(options["project"])
        store = default_store()
        trust = load_trust(store) if options["all"] else None
        report = PublishReport()
        for project in projects:
            part = publish_pending(project, store)
            if trust is not None:
                more = reconcile(project, trust, store)
                part.published += more.published
                part.unpublished = more.unpublished
                part.problems += more.problems
            else:
                part.problems += _unqueued_missing(project, store)
            report.published += part.published
            report.unpublished += part.unpublished
            report.problems += part.problems
        self._report(report, options["json"])

    def _report(self, report: PublishReport, as_json: bool) -> None:
        pending = {}
        for key, size in report.unpublished:
            pending.setdefault(key, []).append(size)
        ok = not report.unpublished and not report.problems
        if as_json:
            self.stdout.write(
                dump(
                    {
                        "ok": ok,
                        "published": len(report.published),
                        "unpublished": pending,
                        "problems": report.problems,
                    }
                )
            )
        else:
            self.stdout.write(f"{len(report.published)} checkpoints published")
            for key, sizes in pending.items():
                self.stdout.write(f"  {key}: still unpublished at sizes {_sizes(sizes)}")
            for problem in report.problems:
                self.stdout.write(f"  {problem}")
        if not ok:
            if pending:
                key, sizes = next(iter(pending.items()))
                raise CommandError(
                    f"checkpoints of {key} at sizes {_sizes(sizes)} are still unpublished: "
                    "the store refuses them (see /healthz)"
                )
            raise CommandError(report.problems[0])


def _sizes(sizes: list[int]) -> str:
    return ", ".join(map(str, sizes[:10])) + (" ..." if len(sizes) > 10 else "")


def _unqueued_missing(project: Project, store) -> list[str]:
    """Name checkpoints missing from the store although not queued: removed from it."""
    try:
        missing = removed_from_store(project, store)
    except StorageError:
        return [f"{project.key}: the store cannot be reached or listed"]
    if not missing:
        return []
    return [
        f"{project.key}: checkpoints at sizes {_sizes(missing)} were published but are not in "
        "the store any more; run verify_ledger, then publish_checkpoints --all to republish them"
    ]
