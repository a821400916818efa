"""Failure search: where in a parameter space does a criterion come closest to failing?

An adaptive sampler (Optuna's TPE, seeded) draws concrete cases of one scenario from parameter
ranges, computes their KPIs with the same engine as the local executor
(:func:`validation.execution.local.compute`) and steers towards the smallest *margin* to the
criterion: the KPI's distance to its threshold on the passing side, negative when the case
fails (for ``min_ttc > 1.0`` a case with a minimum TTC of 0.8 s has a margin of -0.2 s). A
collision (on a criterion that is not about the impact speed) or a missing KPI fails the case
whatever the KPI; its margin is ``-|threshold|`` less the impact speed (m/s), so harder impacts
rank worse. Whether a case fails is :func:`validation.verdicts.case_fails`, as in a verdict.

The result lists every evaluation, the worst cases and the failure boundary: the evaluated cases
closest to a margin of zero, and per numeric parameter where the failing cases begin and end.
A seeded random search over the same ranges and budget (``sampler="random"``) is the reference.

The cases of a search are chosen for being bad, so they are no random sample of anything: they
never count as evidence toward a verdict.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from validation.execution.local import compute
from validation.verdicts import COMPARATORS, IMPACT_KPIS, CriterionSpec, case_fails

SAMPLERS = ("tpe", "random")
#: Random draws TPE starts from before it models the space.
STARTUP_TRIALS = 10
#: Margin within which a case counts as on the failure boundary (in the KPI's unit).
BOUNDARY_TOLERANCE = 0.05
MAX_BUDGET = 10_000


class SearchError(ValueError):
    """Ranges, criterion or budget a search cannot run with."""


@dataclass(frozen=True)
class Dimension:
    name: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    values: tuple = ()

    def as_json(self):
        if self.values:
            return {"values": list(self.values)}
        return [self.low, self.high] + ([self.step] if self.step else [])


def dimensions(ranges: Mapping[str, Any]) -> list[Dimension]:
    """Parse ``name -> [low, high]``, ``[low, high, step]`` or ``{"values": [...]}``."""
    if not isinstance(ranges, Mapping) or not ranges:
        raise SearchError("give at least one parameter range")
    dims = []
    for name, spec in ranges.items():
        if isinstance(spec, Mapping) and isinstance(spec.get("values"), list) and spec["values"]:
            dims.append(Dimension(str(name), values=tuple(spec["values"])))
            continue
        if (
            isinstance(spec, list | tuple)
            and len(spec) in (2, 3)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec)
        ):
            low, high = float(spec[0]), float(spec[1])
            step = float(spec[2]) if len(spec) == 3 else None
            if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                raise SearchError(f"range of {name}: low must not exceed high")
            if step is not None and step <= 0:
                raise SearchError(f"range of {name}: the step must be positive")
            dims.append(Dimension(str(name), low, high, step))
            continue
        raise SearchError(f"range of {name}: use [low, high], [low, high, step] or {{'values'}}")
    return dims


def clip_to_scope(ranges: Mapping[str, Any], scope: Mapping) -> dict[str, Any]:
    """Numeric ranges narrowed to a criterion's scope (``scope["parameters"]``), so a search
    looks only where the criterion judges. A range outside the scope is an error."""
    clipped = dict(ranges)
    for name, bounds in ((scope or {}).get("parameters") or {}).items():
        spec = clipped.get(name)
        if not isinstance(spec, list | tuple) or len(spec) < 2:
            continue
        low, high = bounds
        new_low = spec[0] if low is None else max(spec[0], low)
        new_high = spec[1] if high is None else min(spec[1], high)
        if new_low > new_high:
            raise SearchError(f"range of {name} lies outside the criterion's scope")
        clipped[name] = [new_low, new_high, *spec[2:]]
    return clipped


def margin(spec: CriterionSpec, kpis: Mapping) -> float:
    """The case's distance to failing ``spec``: positive passing, negative failing."""
    threshold = spec.threshold if spec.threshold is not None else 0.0
    worst = -abs(threshold) - float(kpis.get("impact_speed") or 0.0)
    if kpis.get("collision") and spec.kpi not in IMPACT_KPIS:
        return worst
    value = kpis.get(spec.kpi)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return worst
    if spec.comparator in (">", ">="):
        return float(value) - threshold
    return threshold - float(value)


def check_spec(spec: CriterionSpec) -> None:
    if spec.unit != "cases" or not spec.kpi or spec.threshold is None:
        raise SearchError(
            f"criterion {spec.code} is not judged case by case on a KPI threshold: "
            "a failure search needs one"
        )
    if spec.comparator not in COMPARATORS:
        raise SearchError(f"criterion {spec.code} has no comparator")


@dataclass(frozen=True)
class Evaluation:
    number: int
    case_id: str
    params: dict
    kpis: dict
    margin: float
    failing: bool

    def as_json(self, with_kpis: bool = True) -> dict:
        row = {
            "number": self.number,
            "case_id": self.case_id,
            "params": self.params,
            "margin": self.margin,
            "failing": self.failing,
        }
        if with_kpis:
            row["kpis"] = self.kpis
        return row


@dataclass
class SearchResult:
    criterion: str
    scenario: str
    sampler: str
    seed: int
    budget: int
    ranges: dict
    fixed: dict
    simulation_seed: int
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def failures(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.failing]

    def first_failure(self) -> int | None:
        """The 1-based number of evaluations it took to find the first failing case."""
        return next((e.number + 1 for e in self.evaluations if e.failing), None)

    def first_on_boundary(self, tolerance: float = BOUNDARY_TOLERANCE) -> int | None:
        """Evaluations it took to find a case within ``tolerance`` of a zero margin."""
        return next(
            (e.number + 1 for e in self.evaluations if abs(e.margin) <= tolerance),
            None,
        )

    def worst(self, n: int = 10) -> list[Evaluation]:
        return sorted(self.evaluations, key=lambda e: (e.margin, e.number))[:n]

    def boundary(self, tolerance: float = BOUNDARY_TOLERANCE, n: int = 10) -> dict:
        """The failure boundary as evaluated: the cases closest to a zero margin (those within
        ``tolerance`` first), and per numeric parameter the range the failing cases span
        beside the range the passing ones span."""
        near = sorted(self.evaluations, key=lambda e: (abs(e.margin), e.number))[:n]
        extents = {}
        for name, spec in self.ranges.items():
            if not isinstance(spec, list):
                continue
            failing = [e.params[name] for e in self.evaluations if e.failing]
            passing = [e.params[name] for e in self.evaluations if not e.failing]
            extents[name] = {
                "failing": [min(failing), max(failing)] if failing else None,
                "passing": [min(passing), max(passing)] if passing else None,
            }
        return {
            "tolerance": tolerance,
            "cases": [e.as_json(with_kpis=False) for e in near],
            "within_tolerance": sum(abs(e.margin) <= tolerance for e in self.evaluations),
            "parameters": extents,
        }

    def as_json(self, worst: int = 10) -> dict:
        return {
            "criterion": self.criterion,
            "scenario": self.scenario,
            "sampler": self.sampler,
            "seed": self.seed,
            "budget": self.budget,
            "ranges": self.ranges,
            "fixed": self.fixed,
            "simulation_seed": self.simulation_seed,
            "evaluated": len(self.evaluations),
            "failing": len(self.failures),
            "first_failure": self.first_failure(),
            "worst": [e.as_json() for e in self.worst(worst)],
            "boundary": self.boundary(),
        }


def _suggest(trial: optuna.Trial, dim: Dimension):
    if dim.values:
        return trial.suggest_categorical(dim.name, list(dim.values))
    if dim.low == dim.high:
        return dim.low
    return trial.suggest_float(dim.name, dim.low, dim.high, step=dim.step)


def _sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=STARTUP_TRIALS, multivariate=True
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SearchError(f"unknown sampler {name!r}: use {' or '.join(SAMPLERS)}")


def search(
    spec: CriterionSpec,
    scenario: str,
    ranges: Mapping[str, Any],
    *,
    budget: int,
    seed: int = 0,
    fixed: Mapping[str, Any] | None = None,
    sampler: str = "tpe",
    simulation_seed: int | None = None,
) -> SearchResult:
    """Evaluate ``budget`` cases of ``scenario`` drawn by ``sampler`` (seeded) over ``ranges``
    (``fixed`` parameters added to each), steering to the smallest margin to ``spec``.

    Every case is simulated with the same ``simulation_seed`` (the search's ``seed`` unless
    given), so the margin is a function of the parameters alone and a found case reproduces.
    """
    check_spec(spec)
    dims = dimensions(ranges)
    if not 1 <= budget <= MAX_BUDGET:
        raise SearchError(f"the budget must be 1 to {MAX_BUDGET} evaluations")
    sim_seed = seed if simulation_seed is None else simulation_seed
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():  # the multivariate TPE is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(direction="minimize", sampler=_sampler(sampler, seed))
    result = SearchResult(
        criterion=spec.code,
        scenario=scenario,
        sampler=sampler,
        seed=seed,
        budget=budget,
        ranges={d.name: d.as_json() for d in dims},
        fixed=dict(fixed or {}),
        simulation_seed=sim_seed,
    )
    for number in range(budget):
        trial = study.ask()
        params = {**result.fixed, **{d.name: _suggest(trial, d) for d in dims}}
        case_id = f"{scenario}/search-{sampler}-{seed}/{number:06d}"
        case = {
            "case_id": case_id,
            "scenario": scenario,
            "params": params,
            "source": {"kind": "simulate", "seed": sim_seed},
        }
        kpis = compute([case])[case_id]
        value = margin(spec, kpis)
        study.tell(trial, value)
        result.evaluations.append(
            Evaluation(number, case_id, params, kpis, value, case_fails(spec, kpis))
        )
    return result
