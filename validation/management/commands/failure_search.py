import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from compliance.models import AcceptanceCriterion
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)
from validation import search as engine
from validation.models import Campaign, Scenario
from validation.services import failure_search


class Command(BaseCommand):
    help = (
        "Search a scenario's parameter space for the cases closest to failing a criterion "
        "(seeded TPE, or seeded random for reference), record the search and its failures in "
        "the ledger, and print the worst cases and the failure boundary. A search is never "
        "evidence toward a verdict."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--campaign", help="the campaign whose space is searched")
        parser.add_argument("--criterion", required=True, help="the acceptance criterion's code")
        parser.add_argument("--scenario", required=True, help="the logical scenario's name")
        parser.add_argument(
            "--ranges", help='JSON ranges, e.g. {"ego_speed": [20, 50]} (default: the space\'s)'
        )
        parser.add_argument("--budget", type=int, default=200, help="evaluations (default 200)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--sampler", choices=engine.SAMPLERS, default="tpe")
        parser.add_argument("--json", action="store_true")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        criterion = AcceptanceCriterion.objects.filter(
            project=project, code=options["criterion"]
        ).first()
        if criterion is None:
            raise CommandError(f"no criterion {options['criterion']} in {project.key}")
        scenario = Scenario.objects.filter(project=project, name=options["scenario"]).first()
        if scenario is None:
            raise CommandError(f"no scenario {options['scenario']} in {project.key}")
        campaign = None
        if options["campaign"]:
            campaign = Campaign.objects.filter(project=project, name=options["campaign"]).first()
            if campaign is None:
                raise CommandError(f"no campaign {options['campaign']} in {project.key}")
        ranges = None
        if options["ranges"]:
            try:
                ranges = json.loads(options["ranges"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--ranges is not JSON: {exc.msg}") from exc
        with refusals_as_errors(PermissionDenied):
            try:
                found = failure_search(
                    user=user,
                    project=project,
                    criterion=criterion,
                    scenario=scenario,
                    campaign=campaign,
                    ranges=ranges,
                    budget=options["budget"],
                    seed=options["seed"],
                    sampler=options["sampler"],
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        summary = {**found.summary, "search": found.pk, "ledger_entry": found.entry.index}
        if options["json"]:
            self.stdout.write(dump(summary))
            return
        self.stdout.write(
            f"search {found.pk} ({found.sampler}, seed {found.seed}) of {scenario.name} against "
            f"{criterion.code}: {summary['evaluated']} cases, {summary['failing']} failing, "
            f"first failure at evaluation {summary['first_failure']}; "
            f"ledger entry {found.entry.index}"
        )
        self.stdout.write("worst cases:")
        for e in summary["worst"][:5]:
            self.stdout.write(f"  {e['case_id']}: margin {e['margin']:.3f} {e['params']}")
        boundary = summary["boundary"]
        self.stdout.write(
            f"failure boundary ({boundary['within_tolerance']} cases within "
            f"{boundary['tolerance']} of it):"
        )
        for name, extent in boundary["parameters"].items():
            self.stdout.write(f"  {name}: failing {extent['failing']}, passing {extent['passing']}")
