from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from projects.cli import (
    add_actor_arguments,
    dump,
    refusals_as_errors,
    resolve_actor,
    resolve_project,
)
from validation import mining, selectors
from validation.services import EVENT_PADDING, events_space, mine_drive


class Command(BaseCommand):
    help = (
        "Mine recorded drives (CommonRoad XML or Parquet drives) for hard braking, low time to "
        "collision and cut-ins; store each drive with its events and one ledger entry. A drive "
        "mined before is not mined again. One file that cannot be mined changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("files", nargs="+", metavar="FILE")
        defaults = mining.Thresholds()
        for option, field, text in (
            ("--hard-braking", "hard_braking", "deceleration (m/s²) above which braking is"),
            ("--ttc", "ttc", "time to collision (s) below which following is"),
            ("--cut-in-gap", "cut_in_gap", "largest gap (m) ahead at which a lane entry is"),
            ("--min-duration", "min_duration", "shortest hard braking (s) that is"),
        ):
            parser.add_argument(
                option,
                type=float,
                default=getattr(defaults, field),
                help=f"{text} an event (default %(default)s)",
            )
        parser.add_argument(
            "--all-vehicles",
            action="store_true",
            help="mine every vehicle's events (infrastructure recordings), not only the ego's",
        )
        parser.add_argument(
            "--space",
            help="also make the mined events of these drives the concrete cases of this "
            "parameter space of --scenario, for a campaign to replay",
        )
        parser.add_argument("--scenario", help="the scenario the --space belongs to")
        parser.add_argument(
            "--padding",
            type=float,
            default=EVENT_PADDING,
            help="seconds replayed before and after each event (default %(default)s)",
        )
        parser.add_argument("--json", action="store_true")
        add_actor_arguments(parser)

    def handle(self, *args, **options):
        project = resolve_project(options["project"])
        user = resolve_actor(options["user"])
        try:
            thresholds = mining.Thresholds(
                hard_braking=options["hard_braking"],
                ttc=options["ttc"],
                cut_in_gap=options["cut_in_gap"],
                min_duration=options["min_duration"],
                all_vehicles=options["all_vehicles"],
            )
        except mining.MiningError as exc:
            raise CommandError(str(exc)) from exc
        scenario = None
        if options["space"] or options["scenario"]:
            if not (options["space"] and options["scenario"]):
                raise CommandError("--space and --scenario go together")
            scenario = selectors.scenario_list(project=project).filter(name=options["scenario"])
            scenario = scenario.first()
            if scenario is None:
                raise CommandError(f"no scenario {options['scenario']!r} in {project.key}")
        given = []
        for name in options["files"]:
            try:
                given.append((name, Path(name).read_bytes()))
            except OSError as exc:
                raise CommandError(f"{name}: cannot read ({exc.strerror})") from exc
        done = []
        with refusals_as_errors(PermissionDenied), transaction.atomic():
            for name, data in given:
                drive, created = mine_drive(
                    user=user, project=project, data=data, name=name, thresholds=thresholds
                )
                done.append((name, drive, created))
            space = None
            if scenario is not None:
                space = events_space(
                    user=user,
                    project=project,
                    scenario=scenario,
                    name=options["space"],
                    drives=[drive for _, drive, _ in done],
                    padding=options["padding"],
                )
        rows = [
            {
                "file": name,
                "sha256": drive.sha256,
                "mined": created,
                "events": drive.events.count(),
                "distance_km": drive.distance_km,
                "duration_s": drive.duration_s,
                "ledger_entry": drive.entry.index,
            }
            for name, drive, created in done
        ]
        if options["json"]:
            out = {"drives": rows}
            if space is not None:
                out["space"] = {
                    "name": space.name,
                    "cases": len(space.cases),
                    "sha256": space.sha256,
                }
            self.stdout.write(dump(out))
            return
        for row in rows:
            what = "mined" if row["mined"] else "already mined, unchanged"
            self.stdout.write(
                f"{row['file']}: {what}; {row['events']} events over {row['distance_km']:.3f} km "
                f"and {row['duration_s']:.1f} s; ledger entry {row['ledger_entry']}"
            )
        if space is not None:
            self.stdout.write(
                f"space {space.name} of {scenario.name}: {len(space.cases)} cases replaying the "
                "mined events"
            )
