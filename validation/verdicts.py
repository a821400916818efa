"""Judging KPIs against acceptance criteria with statistical confidence (REFERENCE.md §7).

Per-case criteria (``unit == "cases"``): k failing cases out of n give a one-sided
Clopper-Pearson upper bound on the failure probability at the criterion's confidence. The
verdict is *pass* when that bound is at or below the allowed probability, *fail* when even the
one-sided lower bound is above it (the data show the criterion is not met), and *inconclusive*
otherwise: too few cases to decide either way.

Exposure criteria (``unit`` hours or km): k events over an exposure T give the Poisson
(chi-square) upper bound on the rate, compared the same way with the allowed rate.

A run judges a criterion only on the cases inside its scope (:mod:`compliance.scope`) whose
scenario speaks to the criterion (:func:`judge_in_scope`). When no case is left the verdict is
*not_judged*: there is no evidence at all, which is never a pass.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from compliance import scope as criterion_scope
from compliance import statistics
from evidence.verify import canonical_json

#: The verdict of a criterion that no case of the run is inside the scope of.
NOT_JUDGED = "not_judged"
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


#: KPIs measured at the contact itself: a criterion on one of them judges a collision by it
#: ("impact speed reduced below 10 km/h" is met by a contact at 5 km/h).
IMPACT_KPIS = frozenset({"impact_speed", "impact_speed_kmh"})


def case_fails(spec: CriterionSpec, kpis: dict) -> bool:
    """A case fails when it collided (unless the criterion's KPI is the impact speed), or its
    KPI misses the threshold, or the KPI is missing."""
    if kpis.get("collision") and spec.kpi not in IMPACT_KPIS:
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


@dataclass(frozen=True)
class Case:
    """One case of a run as a verdict reads it."""

    case_id: str
    scenario: str
    params: Mapping
    kpis: Mapping


def _fails(spec: CriterionSpec, kpis: Mapping) -> bool:
    if spec.unit == "cases":
        return case_fails(spec, dict(kpis))
    return bool(int(kpis.get("events", 0) or 0))


def judge_in_scope(
    spec: CriterionSpec,
    scope: Mapping,
    cases: Iterable[Case],
    *,
    odd_tags: Mapping[str, Iterable[str]],
    speaks: Callable[[str], bool],
    recorded: Iterable[RecordedExposure] = (),
) -> tuple[VerdictResult, dict]:
    """The verdict of a criterion over the cases inside its ``scope`` whose scenario
    ``speaks`` to it, and the record of what was judged.

    The record holds the canonical scope, the cases inside and outside it, the SHA-256 of the
    canonical JSON of the sorted ids of the judged cases, and per scenario of the run its
    cases, those in scope, those judged and those failing (in the order of the names). For a
    rate criterion it also holds ``exposure_figures`` (:func:`exposure_figures`): the
    ``recorded`` drives' exposure counts once per drive, not once per case replaying it.
    """
    cases = list(cases)
    figures: dict = {}
    rows: dict[str, list[int]] = {}
    judged = []
    in_scope = 0
    for case in cases:
        row = rows.setdefault(case.scenario, [0, 0, 0, 0])
        row[0] += 1
        tags = odd_tags.get(case.scenario, ())
        if not criterion_scope.contains(
            scope, scenario=case.scenario, params=case.params, odd_tags=tags
        ):
            continue
        in_scope += 1
        row[1] += 1
        if speaks(case.scenario):
            judged.append(case)
            row[2] += 1
            row[3] += _fails(spec, case.kpis)
    if spec.unit == "cases":
        outcome = judge_cases(spec, [dict(c.kpis) for c in judged])
    else:
        events = sum(int(c.kpis.get("events", 0) or 0) for c in judged)
        figures = exposure_figures(spec, judged, recorded, scope, odd_tags, speaks)
        outcome = judge_exposure(spec, events, figures["total"], len(judged))
    if not judged and not figures.get("recorded_drives"):
        outcome = replace(outcome, verdict=NOT_JUDGED)
    ids = sorted(c.case_id for c in judged)
    record = {
        "scope": dict(scope),
        "cases_in_scope": in_scope,
        "cases_out_of_scope": len(cases) - in_scope,
        "judged_cases": {
            "count": len(ids),
            "sha256": hashlib.sha256(canonical_json(ids)).hexdigest(),
        },
        "scenarios": [
            {"scenario": name, "cases": r[0], "in_scope": r[1], "judged": r[2], "failing": r[3]}
            for name, r in sorted(rows.items())
        ],
        "exposure_figures": figures,
    }
    return outcome, record


#: The case parameter that names the recorded drive (its content digest) a case replays part of.
RECORDED_DRIVE = "recorded_drive"


@dataclass(frozen=True)
class RecordedExposure:
    """A recorded drive of a run's spaces (:mod:`validation.mining`): its exposure counts toward
    rate criteria once, whichever of its events the run replays."""

    sha256: str
    scenario: str
    distance_km: float
    duration_h: float


def exposure_figures(
    spec: CriterionSpec,
    judged: list[Case],
    recorded: Iterable[RecordedExposure],
    scope: Mapping,
    odd_tags: Mapping[str, Iterable[str]],
    speaks: Callable[[str], bool],
) -> dict:
    """The exposure of a rate criterion by source, in its unit (km or h).

    ``cases``: the judged cases' own exposure, except those replaying part of a recorded drive
    (parameter :data:`RECORDED_DRIVE`): ``recorded_drives``: each recorded drive once (by its
    digest), when its scenario speaks to the criterion and lies in its scope (a scope that
    limits parameters leaves a whole drive out); ``total``: their sum, what the verdict uses.
    """
    field = "distance_km" if spec.unit == "km" else "duration_h"
    own = sum(float(c.kpis.get(field) or 0.0) for c in judged if not c.params.get(RECORDED_DRIVE))
    drives: dict[str, float] = {}
    for drive in recorded:
        if drive.sha256 in drives or not speaks(drive.scenario):
            continue
        tags = odd_tags.get(drive.scenario, ())
        if criterion_scope.contains(scope, scenario=drive.scenario, params={}, odd_tags=tags):
            drives[drive.sha256] = float(getattr(drive, field))
    return {
        "unit": spec.unit,
        "cases": own,
        "recorded_drives": [{"sha256": k, "exposure": v} for k, v in sorted(drives.items())],
        "total": own + sum(drives.values()),
    }
