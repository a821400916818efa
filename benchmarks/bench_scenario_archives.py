"""Scenario imports of zip archives: how long and how much memory a decompression bomb costs
before it is refused (issue target: within 5 s and 200 MB), and an honest archive of the
original ALKS layout beside it.

Each case runs in a child process: Django starts on the benchmark database, the archive is
built (the bombs of ``tests/compliance/bombs.py``), then ``validation.services.scenarios_import``
is called. The figures are the service's wall time and the process's peak memory (``VmHWM``)
above what it held just before the call; the child also checks that a bomb wrote nothing.
"""

from __future__ import annotations

from benchmarks._setup import report, run_child

CHILD = """
import json, sys, tempfile, time, zipfile
from pathlib import Path
import django


def peak_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from evidence.models import LogEntry
from projects.models import Project
from tests.compliance import bombs
from tests.validation.test_scenario_catalogs import alks_layout
from validation.models import Scenario, ScenarioCatalog
from validation.services import scenarios_import

case, key, username = sys.argv[1:4]
MB = bombs.MB
cap = settings.SAFECASE_MAX_EXPANDED_BYTES
work = Path(tempfile.mkdtemp())
archive = work / "upload.zip"
if case == "alks":
    alks_layout(work / "alks")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((work / "alks").rglob("*.xosc")):
            zf.write(path, path.relative_to(work / "alks").as_posix())
else:
    if case.endswith("-ratio-off"):
        settings.SAFECASE_MAX_EXPANSION_RATIO = 10**9
    declared = {"honest": None, "lie-1k": 1000, "lie-cap-ratio-off": cap - 10_000}
    zeros = bombs.Member.zeros(
        "Scenarios/bomb.xosc", 400 * MB, declared=declared[case]
    )
    archive.write_bytes(bombs.build_zip([zeros]))
user = get_user_model().objects.get(username=username)
project = Project.objects.get(key=key)
def counts():
    return (
        Scenario.objects.count(), ScenarioCatalog.objects.count(), LogEntry.objects.count()
    )


before = counts()
baseline = peak_kb()
started = time.perf_counter()
try:
    scenarios_import(user=user, project=project, paths=[archive])
    message = None
except ValidationError as exc:
    message = "; ".join(exc.messages)
seconds = time.perf_counter() - started
peak = peak_kb()
print(json.dumps({"seconds": seconds, "baseline_kb": baseline, "peak_kb": peak,
                  "bytes": archive.stat().st_size, "message": message,
                  "unchanged": before == counts()}))
"""

BOMBS = [
    ("honest", ".zip, a 400 MB .xosc of zeros, honest headers"),
    ("lie-1k", ".zip, 400 MB, headers declare 1 KB"),
    ("lie-cap-ratio-off", "no ratio bound: .zip, 400 MB, headers declare just under the cap"),
]


def main() -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from projects.models import Membership, Project

    user = get_user_model().objects.create_user("scenario-bomb-engineer")
    project = Project.objects.create(key="SBOMB", name="Scenario archive bombs")
    Membership.objects.create(project=project, user=user, role="engineer")
    print(f"  (cap SAFECASE_MAX_EXPANDED_BYTES = {settings.SAFECASE_MAX_EXPANDED_BYTES:,} bytes)")
    for case, label in BOMBS:
        result = run_child(CHILD, case, project.key, user.username)
        if result["message"] is None or not result["unchanged"]:
            raise RuntimeError(f"{case}: not refused, or something was written: {result}")
        delta_mb = (result["peak_kb"] - result["baseline_kb"]) / 1024
        report(f"{label}: refused in", result["seconds"], "s", "< 5 s")
        report(
            f"{label}: peak memory above start",
            delta_mb,
            "MB",
            "< 200 MB",
            f"whole process {result['peak_kb'] / 1024:,.0f} MB; upload {result['bytes']:,} bytes",
        )
        print(f"    message: {result['message'][:160]}")
    result = run_child(CHILD, "alks", project.key, user.username)
    if result["message"] is not None:
        raise RuntimeError(f"the ALKS archive was refused: {result['message']}")
    label = "ALKS layout .zip (catalogs, scenario, distribution): imported in"
    report(label, result["seconds"], "s")
