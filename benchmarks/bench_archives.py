"""Decompression bombs: how long and how much memory an upload that expands to 400 MB costs
before it is refused (issue target: within 5 s and 200 MB, whatever its ratio).

Each case runs in a child process: Django starts on the benchmark database, the bomb is built
(``tests/compliance/bombs.py``, the same bombs the tests refuse), then the import service is
called and must refuse it. The figures are the service's wall time and the process's peak
memory (``VmHWM``) above what it held just before the call, with the whole-process peak
beside it; the child also checks that nothing was written. The last cases switch the
expansion-ratio bound off to show what the 100 MiB cap alone would cost (openpyxl holds a
worksheet's blank text whole, hence the ratio bound).
"""

from __future__ import annotations

from benchmarks._setup import report, run_child

MB = 1 << 20

CHILD = """
import json, sys, time
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

from compliance.interchange.reqif import reqif_import
from compliance.interchange.tables import table_import
from compliance.models import Requirement
from evidence.models import LogEntry
from projects.models import Project
from tests.compliance import bombs

case, key, username = sys.argv[1:4]
MB = bombs.MB
cap = settings.SAFECASE_MAX_EXPANDED_BYTES
zeros = bombs.Member.zeros("bomb", 400 * MB)
# Headers that lie just under every limit: the member is inflated until the lie shows.
under = min(cap, settings.SAFECASE_MAX_EXPANSION_RATIO * len(bombs.reqifz(zeros))) - 10_000
if case.endswith("-ratio-off"):
    settings.SAFECASE_MAX_EXPANSION_RATIO = 10**9
service, name, data = {
    "reqifz": (reqif_import, "bomb.reqifz", lambda: bombs.reqifz(zeros)),
    "reqifz-lie-1k": (
        reqif_import, "liar.reqifz",
        lambda: bombs.reqifz(zeros.renamed("bomb", declared=1000)),
    ),
    "reqifz-lie-under": (
        reqif_import, "liar.reqifz",
        lambda: bombs.reqifz(zeros.renamed("bomb", declared=under)),
    ),
    "reqifz-lie-cap-ratio-off": (
        reqif_import, "liar.reqifz",
        lambda: bombs.reqifz(zeros.renamed("bomb", declared=cap)),
    ),
    "reqifz-at-cap-ratio-off": (
        reqif_import, "full.reqifz",
        lambda: bombs.reqifz(bombs.Member.zeros("bomb", cap)),
    ),
    "reqifz-at-cap": (
        reqif_import, "full.reqifz",
        lambda: bombs.reqifz(bombs.Member.zeros("bomb", cap)),
    ),
    "xlsx": (table_import, "bomb.xlsx", lambda: bombs.xlsx(zeros)),
    "xlsx-lie-under": (
        table_import, "liar.xlsx",
        lambda: bombs.xlsx(zeros.renamed("bomb", declared=under)),
    ),
    "xlsx-at-cap": (table_import, "full.xlsx", lambda: bombs.workbook(cap - 20_000)),
    "xlsx-at-cap-ratio-off": (
        table_import, "full.xlsx", lambda: bombs.workbook(cap - 20_000)
    ),
    "reqif-blanks": (
        reqif_import, "blank.reqif", lambda: b" " * settings.SAFECASE_MAX_UPLOAD_BYTES
    ),
}[case]
data = data()
user = get_user_model().objects.get(username=username)
project = Project.objects.get(key=key)
before = (Requirement.objects.count(), LogEntry.objects.count())
baseline = peak_kb()
started = time.perf_counter()
try:
    service(user=user, project=project, data=data, filename=name)
    message = None
except ValidationError as exc:
    message = "; ".join(exc.messages)
seconds = time.perf_counter() - started
peak = peak_kb()
unchanged = before == (Requirement.objects.count(), LogEntry.objects.count())
print(json.dumps({"seconds": seconds, "baseline_kb": baseline, "peak_kb": peak,
                  "bytes": len(data), "message": message, "unchanged": unchanged}))
"""

CASES = [
    ("reqifz", ".reqifz, 400 MB of zeros, honest headers"),
    ("reqifz-lie-1k", ".reqifz, 400 MB, headers declare 1 KB"),
    ("reqifz-lie-under", ".reqifz, 400 MB, headers declare just under the limit"),
    ("reqifz-at-cap", ".reqifz of zeros up to the 100 MiB cap"),
    ("xlsx", ".xlsx, 400 MB worksheet, honest headers"),
    ("xlsx-lie-under", ".xlsx, 400 MB worksheet, headers declare just under the limit"),
    ("xlsx-at-cap", ".xlsx whose worksheet is blanks up to the cap"),
    ("reqif-blanks", "plain .reqif at the upload limit, all blanks"),
    # With the ratio bound switched off, only the 100 MiB cap stands between.
    ("reqifz-lie-cap-ratio-off", "no ratio bound: .reqifz, 400 MB, headers declare the cap"),
    ("reqifz-at-cap-ratio-off", "no ratio bound: .reqifz of zeros up to the cap"),
    ("xlsx-at-cap-ratio-off", "no ratio bound: .xlsx worksheet of blanks up to the cap"),
]


def _run(case: str, key: str, username: str) -> dict:
    return run_child(CHILD, case, key, username)


def main() -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from projects.models import Membership, Project

    user = get_user_model().objects.create_user("bomb-engineer")
    project = Project.objects.create(key="BOMB", name="Decompression bombs")
    Membership.objects.create(project=project, user=user, role="engineer")
    print(f"  (cap SAFECASE_MAX_EXPANDED_BYTES = {settings.SAFECASE_MAX_EXPANDED_BYTES:,} bytes)")
    for case, label in CASES:
        result = _run(case, project.key, user.username)
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
