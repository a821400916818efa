"""Regression between versions (issue: campaign intelligence): ``compare_runs`` over two runs
of 150,000 cases each, target under 5 s.

Two runs of one campaign over five scenarios, their KPIs as the executors store them (the
head run's minimum TTC lowered in one case of a hundred), four criteria with scopes like the
demo's (three per case, one per km). Measured in-process on the benchmark database: reading
both runs' cases column by column (``selectors.stored_run_columns``), the comparison itself,
the same read and compared case by case as before (the reference, which must agree), and the
whole ``compare_runs`` command (reading, comparing and recording the ledger entry). Scale with
BENCH_COMPARE_CASES.
"""

from __future__ import annotations

import os
import time
from io import StringIO

import numpy as np

from benchmarks._setup import report

N_CASES = int(os.environ.get("BENCH_COMPARE_CASES", 150_000))
KEY = "CMP"
SCENARIOS = ("CCRs", "CCRm", "CCRb", "CutIn", "CPNA")


def _kpis(rng, n: int) -> list[dict]:
    ttc = np.round(rng.uniform(0.2, 4.0, n), 4)
    gap = np.round(rng.uniform(-0.5, 20.0, n), 3)
    decel = np.round(rng.uniform(0.0, 10.0, n), 3)
    speed = np.round(rng.uniform(0.0, 40.0, n), 3)
    return [
        {
            "min_ttc": float(ttc[i]),
            "min_distance": float(gap[i]),
            "max_deceleration": float(decel[i]),
            "max_abs_jerk": float(decel[i] * 3),
            "time_first_brake": 1.5,
            "min_thw": float(ttc[i] / 2),
            "impact_speed": float(speed[i]) if gap[i] <= 0 else None,
            "impact_speed_kmh": float(speed[i] * 3.6) if gap[i] <= 0 else 0.0,
            "collision": bool(gap[i] <= 0),
            "start": 0.0,
            "end": 10.0,
            "distance_km": 0.12,
            "duration_h": 10 / 3600,
            "events": int(decel[i] > 9.9),
        }
        for i in range(n)
    ]


def _params(rng, n: int) -> list[tuple[str, dict]]:
    speed = np.round(rng.uniform(10, 80, n), 2)
    gap = np.round(rng.uniform(10, 70, n), 2)
    out = []
    for i in range(n):
        scenario = SCENARIOS[i % len(SCENARIOS)]
        params = {
            "scenario": scenario.lower(),
            "ego_speed": float(speed[i]),
            "initial_gap": float(gap[i]),
            "surface": ("dry", "wet")[i % 2],
            "lighting": ("day", "night")[(i // 2) % 2],
        }
        out.append((scenario, params))
    return out


def build(project, user):
    from compliance import services as compliance
    from validation.models import Campaign, CaseResult, Run, RunStatus, Scenario

    fsr = compliance.requirement_create(
        user=user, project=project, code="FSR-010", kind="FSR", asil="C"
    )
    criteria = [
        (
            "AC-02",
            "min_ttc",
            ">",
            1.0,
            {"scenarios": ["CCRs"], "parameters": {"ego_speed": [20, 50]}},
        ),
        ("AC-03", "impact_speed_kmh", "<", 10.0, {"scenarios": ["CPNA"]}),
        ("AC-04", "min_distance", ">", 0.0, {"scenarios": ["CCRs", "CCRm", "CCRb"]}),
    ]
    made = [
        compliance.acceptance_criterion_save(
            user=user,
            project=project,
            code=code,
            requirement=fsr,
            unit="cases",
            allowed_failure_probability=1e-2,
            confidence=0.95,
            kpi=kpi,
            comparator=cmp,
            threshold=threshold,
            scope=scope,
            description=code,
        )
        for code, kpi, cmp, threshold, scope in criteria
    ]
    made.append(
        compliance.acceptance_criterion_save(
            user=user,
            project=project,
            code="AC-01",
            unit="km",
            hazardous_behaviour_rate=1e-6,
            confidence=0.95,
            description="unintended braking per km",
        )
    )
    for name in SCENARIOS:
        scenario = Scenario.objects.create(project=project, name=name, sha256="0" * 64)
        scenario.requirements.add(fsr)
    campaign = Campaign.objects.create(project=project, name="bench", created_by=user)
    campaign.criteria.set(made)
    rng = np.random.default_rng(16)
    params = _params(rng, N_CASES)
    kpis = _kpis(rng, N_CASES)
    worse = rng.random(N_CASES) < 0.01
    runs = []
    for side in ("base", "head"):
        run = Run.objects.create(
            campaign=campaign,
            status=RunStatus.SUCCEEDED,
            executor="local",
            cases_total=N_CASES,
            inputs={"side": side},
            started_by=user,
        )
        rows = []
        for i, (scenario, p) in enumerate(params):
            k = kpis[i]
            if side == "head" and worse[i]:
                k = dict(k, min_ttc=round(k["min_ttc"] * 0.5, 4))
            rows.append(
                CaseResult(
                    run=run,
                    shard=i // 500,
                    case_id=f"{scenario}/{i:07d}",
                    scenario=scenario,
                    params=p,
                    kpis=k,
                )
            )
        CaseResult.objects.bulk_create(rows, batch_size=5000)
        runs.append(run)
    return runs


def main() -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from projects.models import Membership, Project
    from validation import comparison, selectors

    user = get_user_model().objects.create_user("compare-bench")
    project = Project.objects.create(key=KEY, name="Comparison benchmark")
    Membership.objects.create(project=project, user=user, role="engineer")
    started = time.perf_counter()
    base, head = build(project, user)
    print(f"  setup: two runs of {N_CASES:,} cases in {time.perf_counter() - started:.1f} s")

    clock = _Clock()
    base_cols, head_cols = selectors.stored_run_columns(base, head)
    read = clock.lap()
    criteria = selectors.comparison_criteria(project=project, base=base, head=head)
    clock = _Clock()
    result = comparison.compare_stored(base_cols, head_cols, criteria, odd_tags={})
    compared = clock.lap()
    report("reading both runs column by column", read[0], "s", reference=_cpu(read))
    report(
        "comparing (matching, flips, tests, KPI deltas)", compared[0], "s", reference=_cpu(compared)
    )
    del base_cols, head_cols
    clock = _Clock()
    decoded: dict = {}
    base_cases, base_keys = selectors.run_cases(run=base, decoded=decoded)
    head_cases, head_keys = selectors.run_cases(run=head, decoded=decoded)
    reference = comparison.compare(
        base_cases, head_cases, criteria, odd_tags={}, keys=(base_keys, head_keys)
    )
    by_case = clock.lap()
    assert reference == result, "the two readings disagree"
    del base_cases, head_cases, decoded, reference
    report(
        "reference: the same, reading and comparing case by case (the previous path)",
        by_case[0],
        "s",
        reference=f"{_cpu(by_case)}; {by_case[1] / (read[1] + compared[1]):.1f}x the columnar "
        "path's CPU time",
    )
    flips = {c["criterion"]: c["flips"]["pass_to_fail"] for c in result["criteria"]}
    print(f"  matched {result['matched']:,}; pass to fail per criterion {flips}")

    out = StringIO()
    clock = _Clock()
    try:
        call_command(
            "compare_runs",
            "--project",
            KEY,
            "--base",
            str(base.pk),
            "--head",
            str(head.pk),
            "--user",
            user.username,
            "--json",
            stdout=out,
        )
        code = 0
    except CommandError:
        code = 1
    command = clock.lap()
    report(
        f"compare_runs over two runs of {N_CASES:,} cases (exit {code})",
        command[0],
        "s",
        target="under 5 s",
        reference=_cpu(command),
    )


class _Clock:
    """Wall time and this process's CPU time since it was made: on a busy machine the wall
    time includes waiting for a core, which the CPU time does not (the database server's own
    work, on PostgreSQL, is in neither)."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _cpu(lap: tuple[float, float]) -> str:
    return f"CPU {lap[1]:.1f} s in this process"
