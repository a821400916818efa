import time

from django.core.management.base import BaseCommand, CommandError

from compliance import units
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)
from validation.execution import registry
from validation.models import Campaign, RunStatus
from validation.services import run_start

FINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


class Command(BaseCommand):
    help = "Run a validation campaign and wait for its verdicts."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--executor", choices=registry.names())
        parser.add_argument("--model", help="a registered model's name: run on its latest version")
        parser.add_argument("--commit", help="the system under test's commit for this run")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait")
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--if-exists",
            action="store_true",
            help="do nothing (exit 0) when the campaign is not defined",
        )
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        campaign = Campaign.objects.filter(project=project, name=options["campaign"]).first()
        if campaign is None and options["if_exists"]:
            self.stdout.write(f"no campaign {options['campaign']!r} in {project.key}: skipped")
            return
        if campaign is None:
            raise CommandError(f"no campaign named {options['campaign']!r} in {project.key}")
        with refusals_as_errors():
            run = run_start(
                user=user,
                campaign=campaign,
                executor=options["executor"],
                model=options["model"],
                commit=options["commit"],
            )
        deadline = time.monotonic() + options["timeout"]
        run.refresh_from_db()
        while run.status not in FINAL:
            if time.monotonic() > deadline:
                raise CommandError(f"run {run.pk} still {run.status} after {options['timeout']} s")
            time.sleep(0.5)
            run.refresh_from_db()
        verdicts = [
            {
                "criterion": v.criterion.code,
                "verdict": v.verdict,
                "failures": v.failures,
                "trials": v.trials,
                "upper_bound": v.upper_bound,
                "unit": v.criterion.unit,
                "confidence": v.criterion.confidence,
                "progress": v.progress,
            }
            for v in run.verdicts.select_related("criterion").order_by("criterion__code")
        ]
        summary = {
            "run": run.pk,
            "status": run.status,
            "executor": run.executor,
            "cases": run.results.count(),
            "verdicts": verdicts,
            "error": run.error or None,
            "ledger_entry": run.entry.index if run.entry_id else None,
        }
        if options["json"]:
            self.stdout.write(dump(summary))
        else:
            self.stdout.write(
                f"run {run.pk} of {campaign.name} on {run.executor}: {run.status}, "
                f"{summary['cases']} cases"
            )
            for v in verdicts:
                upper = units.bound(v["upper_bound"], v["unit"], v["confidence"])
                self.stdout.write(
                    f"  {v['criterion']}: {v['verdict']} ({v['failures']} of "
                    f"{v['trials']} failing, upper bound {upper})"
                )
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}: {run.error}")
