"""``manage.py link_commits --project KEY --repo PATH``: link commits to requirements by trailer."""

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand
from django.http import Http404

from compliance.commits.git import GitError
from compliance.commits.services import link_repository
from evidence.keys import SigningKeyError
from evidence.ledger import LedgerError
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)


class Command(BaseCommand):
    help = (
        "Read a Git history and link each commit whose Implements:, Verifies: or Refs: "
        "trailers name requirements of the project; already linked commits are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--repo", required=True, help="the top folder of a Git clone")
        parser.add_argument(
            "--rev", default="HEAD", help="revision or range to read, e.g. v1.0..main (HEAD)"
        )
        parser.add_argument("--json", action="store_true", help="print a JSON summary")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        with refusals_as_errors(GitError, LedgerError, SigningKeyError, PermissionDenied, Http404):
            result = link_repository(
                user=user, project=project, path=options["repo"], rev=options["rev"]
            )
        if options["json"]:
            self.stdout.write(dump(result.as_dict()))
            return
        self.stdout.write(
            f"read {result.commits} commits of {result.repository}: {result.links} new links, "
            f"{result.stale_verifications} verifications now stale"
        )
        if result.unknown_ids:
            self.stdout.write(f"unknown requirement ids: {', '.join(result.unknown_ids)}")
