from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)
from validation import selectors
from validation.services import run_compare


class Command(BaseCommand):
    help = (
        "Compare a head run against a base run (cases matched by scenario and parameters), "
        "record the comparison in the ledger, and exit non-zero when a criterion regressed "
        "significantly or a case flipped from pass to fail."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--base", required=True, type=int, help="the base run's id")
        parser.add_argument("--head", required=True, type=int, help="the head run's id")
        parser.add_argument(
            "--limit", type=int, default=100, help="cases listed by name (0 to 1000, default 100)"
        )
        parser.add_argument("--json", action="store_true")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        runs = selectors.runs_of_project(project=project).select_related("campaign", "entry")
        found = runs.in_bulk([options["base"], options["head"]])
        for side in ("base", "head"):
            if options[side] not in found:
                raise CommandError(f"no run {options[side]} in {project.key} (--{side})")
        if not 0 <= options["limit"] <= 1000:
            raise CommandError("--limit must be 0 to 1000")
        with refusals_as_errors(PermissionDenied):
            comparison = run_compare(
                user=user,
                project=project,
                base=found[options["base"]],
                head=found[options["head"]],
                limit=options["limit"],
            )
        report = comparison.report
        if options["json"]:
            self.stdout.write(dump({**report, "ledger_entry": comparison.entry.index}))
        else:
            self._print(report, comparison.entry.index)
        if report["regressed"]:
            raise CommandError("regression: " + "; ".join(report["regressions"]))

    def _print(self, report: dict, entry: int) -> None:
        base, head = report["base"], report["head"]
        self.stdout.write(
            f"run {head['run']} ({head['campaign']}) against run {base['run']} "
            f"({base['campaign']}): {report['matched']} cases matched, "
            f"{report['only_base']} only in base, {report['only_head']} only in head; "
            f"ledger entry {entry}"
        )
        for c in report["criteria"]:
            flips = c["flips"]
            b, h = c["base"], c["head"]
            p = "n/a" if c["p_value"] is None else f"{c['p_value']:.3g}"
            self.stdout.write(
                f"  {c['criterion']}: {'REGRESSED' if c['regressed'] else 'ok'}; "
                f"{b['failures']}/{b['trials']} -> {h['failures']}/{h['trials']} failing, "
                f"p = {p} (alpha {c['alpha']:.3g}); pass->fail {flips['pass_to_fail']}, "
                f"fail->pass {flips['fail_to_pass']}"
            )
            for case in c["flipped_to_fail"]:
                self.stdout.write(f"    flipped to fail: {case['head']} (base {case['base']})")
