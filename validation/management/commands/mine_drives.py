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
from validation import mining
from validation.services import mine_drive


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
            self.stdout.write(dump(rows))
            return
        for row in rows:
            what = "mined" if row["mined"] else "already mined, unchanged"
            self.stdout.write(
                f"{row['file']}: {what}; {row['events']} events over {row['distance_km']:.3f} km "
                f"and {row['duration_s']:.1f} s; ledger entry {row['ledger_entry']}"
            )
