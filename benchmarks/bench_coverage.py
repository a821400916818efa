"""Coverage over 1,000,000 cases (issue: campaign intelligence), target under 5 s.

A million cases with two numeric parameters (ego speed, initial gap) and two ODD conditions
(surface, lighting), as a run's parameters read back from the database (object columns):
hits per bin of every parameter at 10 bins with a goal of 100 cases per bin, and the
two-parameter grid the heatmap draws. Then the coverage a run records with a verdict
(:func:`validation.coverage.measure`) over the same million cases as the run reads them (one
case object each, parameters in a dict), under a plan of 10 bins per parameter with a goal of 100
and an ODD dimension read from the scenarios' tags. Scale with BENCH_COVERAGE_CASES.
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks._setup import report

N_CASES = int(os.environ.get("BENCH_COVERAGE_CASES", 1_000_000))


def main() -> None:
    import pandas  # noqa: F401  (imported once by a running server; not part of the figure)

    from validation import coverage

    rng = np.random.default_rng(16)
    columns = {
        "ego_speed": np.round(rng.uniform(10, 80, N_CASES), 2).astype(object),
        "initial_gap": np.round(rng.uniform(10, 70, N_CASES), 2).astype(object),
        "surface": rng.choice(np.array(["dry", "wet"], dtype=object), N_CASES),
        "lighting": rng.choice(np.array(["day", "night", "low_sun"], dtype=object), N_CASES),
    }
    started = time.perf_counter()
    axes = {name: coverage.axis_for(name, column, 10) for name, column in columns.items()}
    per_parameter = [coverage.coverage(axes[n], columns[n], goal=100) for n in columns]
    heat = coverage.grid(
        axes["ego_speed"],
        axes["initial_gap"],
        columns["ego_speed"],
        columns["initial_gap"],
        goal=100,
    )
    seconds = time.perf_counter() - started
    holes = sum(len(p["holes"]) for p in per_parameter)
    print(
        f"  {len(per_parameter)} parameters, {sum(len(a) for a in axes.values())} bins, "
        f"{holes} holes; grid {heat['cells']} cells, {heat['below_goal']} below the goal"
    )
    report(f"coverage over {N_CASES:,} cases", seconds, "s", target="under 5 s")
    _recorded(columns)


def _recorded(columns: dict) -> None:
    from validation import coverage
    from validation.verdicts import Case

    names = list(columns)
    rows = zip(*(columns[n].tolist() for n in names), strict=True)
    scenarios = ("CCRs", "CCRm", "CPNA")
    cases = [
        Case(f"c{i:07d}", scenarios[i % 3], dict(zip(names, row, strict=True)), {})
        for i, row in enumerate(rows)
    ]
    odd_tags = {"CCRs": ["motorway", "day"], "CCRm": ["urban"], "CPNA": ["urban", "day"]}
    plan = coverage.clean_plan({"bins": 10, "goal": 100, "odd": {"road": ["motorway", "urban"]}})
    started = time.perf_counter()
    record = coverage.measure(cases, plan, odd_tags)
    seconds = time.perf_counter() - started
    print(
        f"  recorded: {record['bins_hit']}/{record['bins_total']} bins hit, "
        f"{record['holes']} holes, goal met: {record['met']}"
    )
    report(
        f"coverage recorded with a verdict over {N_CASES:,} cases",
        seconds,
        "s",
        target="under 5 s",
    )
