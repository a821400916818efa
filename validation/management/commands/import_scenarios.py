from django.core.management.base import BaseCommand

from evidence.keys import SigningKeyError
from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)
from validation.services import scenarios_import


class Command(BaseCommand):
    help = (
        "Import OpenSCENARIO 1.x scenarios, ParameterValueDistribution and catalog files, "
        "folders of them or zip archives of a folder, in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help=".xosc files, folders or .zip archives")
        parser.add_argument("--project", required=True)
        parser.add_argument(
            "--root",
            help="the folder files may refer to (a distribution's ScenarioFile, catalog "
            "directories); default: the folder holding the files given",
        )
        parser.add_argument("--seed", type=int, help="seed for stochastic distributions")
        parser.add_argument("--json", action="store_true")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        with refusals_as_errors(SigningKeyError):
            result = scenarios_import(
                user=user,
                project=project,
                paths=options["files"],
                root=options["root"],
                seed=options["seed"],
            )
        if options["json"]:
            self.stdout.write(dump(result))
            return
        self.stdout.write(
            f"{result['scenarios']} scenario(s), {result['cases']} concrete cases, "
            f"{result['discarded']} discarded by the scenarios' constraints, "
            f"{result['catalogs']} catalog(s)"
        )
        for warning in result["warnings"]:
            self.stderr.write(f"warning: {warning}")
