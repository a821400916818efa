"""Failure search on the demo's CCRs failure boundary (issue: campaign intelligence), target
within 200 evaluations, beside a seeded random search with the same budget.

The criterion is the demo's AC-02 (stopped vehicle from 20 to 50 km/h: minimum TTC above
1.0 s), searched over the demo's CCRs space inside its scope: ego speed, initial gap, surface
and lighting. The boundary counts as found when the search has a failing case and a case
within 0.05 s of the threshold (|margin| <= 0.05), and its estimate of where failures begin
(the lowest ego speed of a failing case) is within 2 km/h of the reference: the lowest failing
ego speed on a dense grid of the same space (ego speed every 0.5 km/h from 30 km/h, initial gap
every 5 m), measured in the same run. Figures are per seed and the median over the seeds;
scale the seeds with BENCH_SEARCH_SEEDS.
"""

from __future__ import annotations

import os
import statistics
import time

from benchmarks._setup import report

BUDGET = 200
SEEDS = range(int(os.environ.get("BENCH_SEARCH_SEEDS", 5)))
ONSET_TOLERANCE = 2.0  # km/h


def _found_after(result, onset: float) -> dict:
    """Evaluations each sampler took: first failing case, first case on the boundary, and the
    failure onset estimated within the tolerance of the reference (None: not within budget)."""
    from validation.search import BOUNDARY_TOLERANCE

    lowest, onset_at = None, None
    for e in result.evaluations:
        if e.failing:
            speed = e.params["ego_speed"]
            lowest = speed if lowest is None else min(lowest, speed)
            if onset_at is None and abs(lowest - onset) <= ONSET_TOLERANCE:
                onset_at = e.number + 1
    first, near = result.first_failure(), result.first_on_boundary(BOUNDARY_TOLERANCE)
    both = None if None in (first, near, onset_at) else max(first, near, onset_at)
    return {
        "first": first,
        "near": near,
        "onset_at": onset_at,
        "both": both,
        "failing": len(result.failures),
        "lowest": lowest,
        "worst": result.worst(1)[0].margin,
    }


def _reference_onset(spec, fixed, seed) -> tuple[float, int]:
    from validation.execution.local import compute
    from validation.verdicts import case_fails

    cases = []
    for surface in ("dry", "wet"):
        for lighting in ("day", "night"):
            for i in range(41):  # 30 .. 50 km/h
                for gap in range(20, 61, 5):
                    params = {
                        **fixed,
                        "ego_speed": 30 + 0.5 * i,
                        "initial_gap": float(gap),
                        "surface": surface,
                        "lighting": lighting,
                    }
                    cases.append(
                        {
                            "case_id": f"grid/{len(cases):06d}",
                            "scenario": "CCRs",
                            "params": params,
                            "source": {"kind": "simulate", "seed": seed},
                        }
                    )
    results = compute(cases)
    failing = [c["params"]["ego_speed"] for c in cases if case_fails(spec, results[c["case_id"]])]
    return min(failing), len(cases)


def main() -> None:
    from validation import search
    from validation.verdicts import CriterionSpec

    spec = CriterionSpec(
        code="AC-02",
        unit="cases",
        confidence=0.95,
        allowed_probability=1e-3,
        kpi="min_ttc",
        comparator=">",
        threshold=1.0,
    )
    fixed = {"scenario": "ccrs", "target_speed": 0}
    ranges = {
        "ego_speed": [20, 50],
        "initial_gap": [20, 60],
        "surface": {"values": ["dry", "wet"]},
        "lighting": {"values": ["day", "night"]},
    }
    rows = {"tpe": [], "random": []}
    seconds = {"tpe": 0.0, "random": 0.0}
    for seed in SEEDS:
        onset, grid_cases = _reference_onset(spec, fixed, seed)
        line = [f"  seed {seed}: reference onset {onset:.1f} km/h ({grid_cases} grid cases);"]
        for sampler in rows:
            started = time.perf_counter()
            result = search.search(
                spec, "CCRs", ranges, budget=BUDGET, seed=seed, fixed=fixed, sampler=sampler
            )
            seconds[sampler] += time.perf_counter() - started
            row = _found_after(result, onset)
            rows[sampler].append(row)
            line.append(
                f"{sampler}: first failure {row['first']}, on boundary {row['near']}, onset "
                f"within {ONSET_TOLERANCE:g} km/h {row['onset_at']} (lowest failing "
                f"{row['lowest'] if row['lowest'] is None else round(row['lowest'], 1)}), "
                f"{row['failing']} failing, worst margin {row['worst']:.2f} s;"
            )
        print(" ".join(line), flush=True)

    def median(sampler: str, key: str) -> float:
        values = [r[key] if r[key] is not None else BUDGET + 1 for r in rows[sampler]]
        return float(statistics.median(values))

    for key, what in (
        ("first", "first failing case"),
        ("near", "first case within 0.05 s of the threshold"),
        ("onset_at", f"failure onset within {ONSET_TOLERANCE:g} km/h of the reference"),
        ("both", "boundary found (all three)"),
    ):
        tpe, rnd = median("tpe", key), median("random", key)
        found = sum(r[key] is not None for r in rows["tpe"])
        found_random = sum(r[key] is not None for r in rows["random"])
        report(
            f"TPE evaluations to the {what} (median of {len(rows['tpe'])} seeds)",
            tpe,
            "evaluations",
            target=f"within {BUDGET}",
            reference=(
                f"seeded random search {rnd:,.1f} (ratio {tpe / rnd:.2f}); found within the "
                f"budget: TPE {found}/{len(SEEDS)}, random {found_random}/{len(SEEDS)} "
                f"(not found counts as {BUDGET + 1})"
            ),
        )
    report(
        "failing cases found in 200 evaluations (median)",
        median("tpe", "failing"),
        "cases",
        reference=f"seeded random search {median('random', 'failing'):,.1f}",
    )
    per = {s: 1000 * seconds[s] / (BUDGET * len(rows[s])) for s in seconds}
    report(
        "time per evaluation, TPE",
        per["tpe"],
        "ms",
        reference=f"random {per['random']:.1f} ms (KPIs of one simulated drive plus sampling)",
    )
