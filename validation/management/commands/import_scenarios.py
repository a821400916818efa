from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evidence.keys import SigningKeyError
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)
from validation.services import scenario_import


class Command(BaseCommand):
    help = "Import OpenSCENARIO 1.x scenarios and ParameterValueDistribution files."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument("--project", required=True)
        parser.add_argument("--seed", type=int, help="seed for stochastic distributions")
        parser.add_argument("--json", action="store_true")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        total = {"scenarios": 0, "cases": 0, "discarded": 0}
        for name in options["files"]:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"{name}: no such file")
            with refusals_as_errors(SigningKeyError):
                result = scenario_import(
                    user=user, project=project, path=path, seed=options["seed"]
                )
            for key in total:
                total[key] += result[key]
        if options["json"]:
            self.stdout.write(dump(total))
        else:
            self.stdout.write(
                f"{total['scenarios']} scenario(s), {total['cases']} concrete cases, "
                f"{total['discarded']} discarded by the scenarios' constraints"
            )
