"""Certification package speed (issue: PDF evidence pack and certification package).

A project with 10,000 requirements in a goal / FSR / TSR / SW tree, their links and
verifications, approvals, a validation run, a dataset and 50,000 ledger entries (bulk setup:
the figures are about exporting and verifying). Measured: ``manage.py export_package`` (GSN,
PDF and zip) as a subprocess, wall time and peak memory (the child's own VmHWM); then the
package's own ``verify.py`` run as a subprocess the way a regulator runs it, trusting the key
the store publishes. Targets: export under 60 s and 1 GB, verification under 5 s. Scale down
with BENCH_REPORT_REQUIREMENTS and BENCH_REPORT_ENTRIES for a quick look.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from benchmarks._setup import ROOT, report, run_child, scratch

N_REQ = int(os.environ.get("BENCH_REPORT_REQUIREMENTS", 10_000))
N_ENTRIES = int(os.environ.get("BENCH_REPORT_ENTRIES", 50_000))
BATCH = 5_000
KEY = "RPT"


def _records(start: int, count: int):
    from evidence.ledger import Record, Subject

    kinds = ["change"] * 6 + ["validation-result"] * 3 + ["approval"]
    out = []
    for i in range(start, start + count):
        kind = kinds[i % len(kinds)]
        predicate = {"action": "bench", "n": i, "kpis": {"min_ttc": 1.5 + i % 7 / 10}}
        out.append(Record(kind, [Subject(f"bench:{kind}:{i}", f"{i:064x}")], predicate))
    return out


def build(project, user, author) -> None:
    from compliance import services
    from compliance.models import (
        ItemDefinition,
        Requirement,
        SafetyGoal,
        TraceLink,
        Verification,
    )
    from evidence import ledger
    from evidence.models import LogEntry
    from evidence.services import dataset_register
    from validation.models import Campaign, Run, Verdict

    started = time.perf_counter()
    ItemDefinition.objects.create(
        project=project,
        function="Benchmark item with a large safety case",
        odd="Everywhere the benchmark runs",
    )
    goals = SafetyGoal.objects.bulk_create(
        [
            SafetyGoal(project=project, code=f"SG-{i:02d}", text=f"Goal {i}", asil="B")
            for i in range(20)
        ]
    )
    levels = [("FSR", N_REQ // 50), ("TSR", N_REQ // 5)]
    levels.append(("SW", N_REQ - sum(n for _, n in levels)))
    requirements, links = [], []
    parents: list = list(goals)
    for kind, count in levels:
        created = Requirement.objects.bulk_create(
            [
                Requirement(
                    project=project,
                    code=f"{kind}-{i:05d}",
                    kind=kind,
                    title=f"{kind} requirement {i}",
                    text=f"The {kind} element {i} shall keep the braking request plausible "
                    "within its fault tolerant time interval.",
                    asil="B",
                    status="approved",
                )
                for i in range(count)
            ],
            batch_size=2000,
        )
        for i, requirement in enumerate(created):
            parent = parents[i % len(parents)]
            target = (
                {"target_goal": parent}
                if isinstance(parent, SafetyGoal)
                else {"target_requirement": parent}
            )
            links.append(
                TraceLink(project=project, kind="derives-from", source=requirement, **target)
            )
        requirements += created
        parents = created
    TraceLink.objects.bulk_create(links, batch_size=5000)

    current = ledger.head_of(project)[0]
    while current < N_ENTRIES - 200:
        step = min(BATCH, N_ENTRIES - 200 - current)
        ledger.append(project, _records(current, step), user=user, fetch=False)
        current += step
    results = list(
        LogEntry.objects.filter(project=project, kind="validation-result").order_by("index")
    )
    Verification.objects.bulk_create(
        [
            Verification(
                project=project,
                requirement=requirement,
                requirement_version=1,
                method="hil-test",
                result="fail" if i % 97 == 0 else "pass",
                summary="bench",
                entry=results[i % len(results)],
            )
            for i, requirement in enumerate(requirements)
            if i % 5
        ],
        batch_size=5000,
    )
    for measure in ("hara", "functional_safety_concept", "safety_plan"):
        services.approval_record(
            user=user,
            project=project,
            measure=measure,
            work_product=measure,
            author=author,
            asil="B",
            outcome="confirmed",
        )
    lake = scratch() / "report-lake"
    lake.mkdir(exist_ok=True)
    for n in range(20):
        (lake / f"drive-{n:02d}.bin").write_bytes(os.urandom(4096))
    dataset_register(user=user, project=project, name="drives", uri=lake.as_uri())
    criteria = []
    for n, goal in enumerate(goals[:3]):
        criteria.append(
            services.acceptance_criterion_save(
                user=user,
                project=project,
                code=f"AC-{n:02d}",
                goal=goal,
                unit="cases",
                allowed_failure_probability=10.0 ** -(n + 1),
                confidence=0.95,
                kpi="min_ttc",
                comparator=">",
                threshold=1.0,
                description=f"criterion {n}",
            )
        )
    campaign = Campaign.objects.create(project=project, name="bench", created_by=user)
    (run_entry,) = ledger.append(project, _records(N_ENTRIES, 1), user=user)
    run = Run.objects.create(
        campaign=campaign,
        status="succeeded",
        executor="local",
        cases_total=1000,
        started_by=user,
        entry=run_entry,
    )
    Verdict.objects.bulk_create(
        [
            Verdict(
                run=run,
                criterion=ac,
                verdict=("pass", "fail", "inconclusive")[n],
                failures=n,
                trials=1000,
                upper_bound=0.003 * (n + 1),
                target=3000,
                progress=0.33,
            )
            for n, ac in enumerate(criteria)
        ]
    )
    services.baseline_freeze(user=user, project=project, name="bench-1")
    current = ledger.head_of(project)[0]
    if current < N_ENTRIES:
        ledger.append(project, _records(current, N_ENTRIES - current), user=user, fetch=False)
    print(
        f"  (set up {len(requirements):,} requirements, {len(links):,} links and "
        f"{ledger.head_of(project)[0]:,} ledger entries in {time.perf_counter() - started:.0f} s)"
    )


#: The evidence pack alone, in a fresh process: the case snapshot, the GSN and the PDF, in CPU
#: seconds of that process (the machine may be busy; CPU time is what the code costs). With
#: BENCH_REPORT_PROFILE=FILE the render is profiled with cProfile into FILE as well.
PDF_CHILD = """
import cProfile, json, os, sys, time
import django

django.setup()
from django.contrib.auth import get_user_model
from projects.models import Project
from reports import gsn, pdf, selectors

key, username = sys.argv[1:3]
user = get_user_model().objects.get(username=username)
project = Project.objects.get(key=key)
baseline = selectors.baseline_named(project)
checkpoint = selectors.latest_checkpoint(project)
profile = os.environ.get("BENCH_REPORT_PROFILE")
profiler = cProfile.Profile() if profile else None
cpu, wall = time.process_time(), time.perf_counter()
if profiler:
    profiler.enable()
snapshot = selectors.case_snapshot(
    user=user, project=project, baseline=baseline, checkpoint=checkpoint
)
case = gsn.build(snapshot)
result = pdf.render(snapshot, case, selectors.register_rows(project, checkpoint.size))
if profiler:
    profiler.disable()
    profiler.dump_stats(profile)
print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall,
                  "pages": result.pages, "bytes": len(result.data)}))
"""


def _measure(
    script: str, args: list[str], cwd: Path, *, flags: tuple[str, ...] = ()
) -> tuple[float, float, str, str, int]:
    """Run ``python FLAGS SCRIPT ARGS`` in ``cwd``; (seconds, peak MiB of that process alone,
    stdout, stderr, exit code). The peak is the child's own ``VmHWM``, which
    ``benchmarks/_peak.py`` records as the script ends."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        handle, name = tempfile.mkstemp(prefix="safecase-peak-")
        os.close(handle)
        peak_file = Path(name)
        wrapper = str(ROOT / "benchmarks" / "_peak.py")
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, *flags, wrapper, str(peak_file), script, *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            env=dict(os.environ),
            check=False,
        )
        elapsed = time.perf_counter() - started
        peak_kib = int(peak_file.read_text() or 0)
        peak_file.unlink()
        out.seek(0)
        err.seek(0)
        return (
            elapsed,
            peak_kib / 1024,
            out.read().decode(),
            err.read().decode(),
            process.returncode,
        )


def main() -> None:
    from django.contrib.auth import get_user_model

    from evidence.membership import membership_seed
    from projects.models import Project

    user = get_user_model().objects.create_user("reports-bench", is_superuser=True)
    author = get_user_model().objects.create_user("reports-author")
    project = Project.objects.create(key=KEY, name="Reports benchmark")
    # Recorded in the ledger: approvals read team and organisational unit from there.
    membership_seed(
        project=project, member=user, role="admin", team="Assessment", org_unit="Assessment"
    )
    membership_seed(
        project=project, member=author, role="engineer", team="AEB", org_unit="Engineering"
    )
    build(project, user, author)

    target = scratch() / "report-package.zip"
    seconds, peak, out, err, code = _measure(
        "manage.py",
        ["export_package", "--project", KEY, "-o", str(target), "--user", user.username, "--json"],
        ROOT,
    )
    if code:
        print(f"  export failed: {err.strip().splitlines()[-1] if err.strip() else out}")
        return
    summary = json.loads(out)
    with zipfile.ZipFile(target) as archive:
        members = len(archive.namelist())
    report(
        f"export_package ({N_REQ:,} requirements, {summary['checkpoint']['size']:,} entries, "
        f"{summary['pages']:,} PDF pages, {members:,} files, {summary['bytes'] / 2**20:.0f} MiB)",
        seconds,
        "s",
        "< 60 s",
    )
    report("export_package peak memory (its own VmHWM)", peak, "MiB", "< 1 GB")
    pack = run_child(PDF_CHILD, KEY, user.username)
    report(
        f"evidence pack PDF alone: snapshot, GSN and render ({pack['pages']:,} pages, "
        f"{pack['bytes'] / 2**20:.1f} MiB; {pack['wall']:.1f} s wall)",
        pack["cpu"],
        "s CPU",
        "< 10 s",
    )

    folder = scratch() / "regulator"
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(target) as archive:
        (folder / "verify.py").write_bytes(archive.read("verify.py"))
    shutil.copy(target, folder / target.name)
    # The regulator's trust root: the key the store publishes, never the package's own.
    published = sorted((scratch() / "store" / "keys").glob("*.vkey"))
    (folder / "trusted.vkey").write_text("".join(p.read_text().strip() + "\n" for p in published))
    seconds, peak, out, err, code = _measure(
        "verify.py", [target.name, "--trusted-key", "trusted.vkey"], folder, flags=("-I",)
    )
    verdict = "OK" if code == 0 else f"FAILED ({code}): {(err or out).strip()}"
    report(
        f"python -I verify.py --trusted-key on that package ({verdict.split(':')[0]}, Ed25519 "
        f"through cryptography when importable, entries checked by one process per CPU)",
        seconds,
        "s",
        "< 5 s",
    )
    report("verify.py peak memory (child ru_maxrss)", peak, "MiB")
    if code:
        print(f"  {verdict}")
