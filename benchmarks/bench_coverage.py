"""Coverage over 1,000,000 cases (issue: campaign intelligence), target under 5 s.

A million cases with two numeric parameters (ego speed, initial gap) and two ODD conditions
(surface, lighting), as a run's parameters read back from the database (object columns):
hits per bin of every parameter at 10 bins with a goal of 100 cases per bin, and the
two-parameter grid the heatmap draws. Scale with BENCH_COVERAGE_CASES.
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
