"""Judging KPIs against acceptance criteria with statistical confidence (REFERENCE.md §7).

Per-case criteria (``unit == "cases"``): k failing cases out of n give a one-sided
Clopper-Pearson upper bound on the failure probability at the criterion's confidence. The
verdict is *pass* when that bound is at or below the allowed probability, *fail* when even the
one-sided lower bound is above it (the data show the criterion is not met), and *inconclusive*
otherwise: too few cases to decide either way.

Exposure criteria (``unit`` hours or km): k events over an exposure T give the Poisson
(chi-square) upper bound on the rate, compared the same way with the allowed rate.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from compliance import statistics

COMPARATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class CriterionSpec:
    """What a verdict needs from an acceptance criterion (kept free of the ORM for testing)."""

    code: str
    unit: str  # "cases", "h" or "km"
    confidence: float
    allowed_probability: float | None = None
    allowed_rate: float | None = None
    kpi: str = ""
    comparator: str = ""
    threshold: float | None = None
    target: float = 0.0


@dataclass(frozen=True)
class VerdictResult:
    criterion: str
    verdict: str
    failures: int
    trials: int
    upper_bound: float
    exposure: float | None
    target: float
    progress: float

    def as_json(self) -> dict:
        return {
            "criterion": self.criterion,
            "verdict": self.verdict,
            "failures": self.failures,
            "trials": self.trials,
            "upper_bound": self.upper_bound,
            "exposure": self.exposure,
            "target": self.target,
            "progress": self.progress,
        }


def case_fails(spec: CriterionSpec, kpis: dict) -> bool:
    """A case fails when it collided, or its KPI misses the threshold, or the KPI is missing."""
    if kpis.get("collision"):
        return True
    if not spec.kpi:
        return False
    value = kpis.get(spec.kpi)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    compare = COMPARATORS.get(spec.comparator)
    if compare is None or spec.threshold is None:
        return False
    return not compare(float(value), spec.threshold)


def _lower_bound(failures: int, trials: int, confidence: float) -> float:
    """One-sided Clopper-Pearson lower bound: Beta^-1(1 - C; k, n - k + 1); 0 when k = 0."""
    if failures == 0:
        return 0.0
    return statistics.beta_ppf(1.0 - confidence, failures, trials - failures + 1)


def judge_cases(spec: CriterionSpec, results: list[dict]) -> VerdictResult:
    """Verdict of a per-case criterion over the KPIs of ``results`` (one dict per case)."""
    trials = len(results)
    failures = sum(case_fails(spec, kpis) for kpis in results)
    if trials == 0:
        return VerdictResult(spec.code, "inconclusive", 0, 0, 1.0, None, spec.target, 0.0)
    upper = statistics.clopper_pearson_upper(failures, trials, spec.confidence)
    allowed = spec.allowed_probability
    if allowed is None:
        raise ValueError(f"criterion {spec.code} has no allowed failure probability")
    if upper <= allowed:
        verdict = "pass"
    elif _lower_bound(failures, trials, spec.confidence) > allowed:
        verdict = "fail"
    else:
        verdict = "inconclusive"
    progress = min(1.0, trials / spec.target) if spec.target else 1.0
    return VerdictResult(spec.code, verdict, failures, trials, upper, None, spec.target, progress)


def judge_exposure(spec: CriterionSpec, events: int, exposure: float, trials: int) -> VerdictResult:
    """Verdict of a rate criterion: ``events`` over ``exposure`` hours or km (Poisson bound)."""
    if spec.allowed_rate is None:
        raise ValueError(f"criterion {spec.code} has no allowed rate")
    if exposure <= 0:
        return VerdictResult(
            spec.code, "inconclusive", events, trials, math.inf, 0.0, spec.target, 0.0
        )
    upper = statistics.poisson_upper_bound(events, exposure, spec.confidence)
    lower = statistics.poisson_interval(events, exposure, 2 * spec.confidence - 1)[0]
    if upper <= spec.allowed_rate:
        verdict = "pass"
    elif lower > spec.allowed_rate:
        verdict = "fail"
    else:
        verdict = "inconclusive"
    progress = min(1.0, exposure / spec.target) if spec.target else 1.0
    return VerdictResult(spec.code, verdict, events, trials, upper, exposure, spec.target, progress)
