"""Expanding a distribution (or a plain scenario) into concrete, constraint-checked cases."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from validation.openscenario.distributions import Distribution, StochasticSpec, load_distribution
from validation.openscenario.errors import ScenarioError
from validation.openscenario.expressions import _round_half_away
from validation.openscenario.parameters import NUMERIC_TYPES, LogicalScenario, convert_value
from validation.openscenario.parsing import (
    DISTRIBUTION,
    _parse_xml,
    _read,
    _scenario_from_root,
    document_kind,
)


@dataclass
class Expansion:
    """Concrete cases of a distribution: kept cases and how many violated constraints."""

    scenario: LogicalScenario
    cases: list[dict[str, Any]]
    discarded: int
    varied: tuple[str, ...] = ()
    seed: int | None = None


def _draw(spec: StochasticSpec, n: int, rng: np.random.Generator, ptype: str) -> list[Any]:
    """``n`` values of one stochastic distribution (rejection sampling inside a Range)."""
    kind, a = spec.kind, spec.args
    if kind == "set":
        weights = np.array([w for _, w in a["elements"]], dtype=float)
        idx = rng.choice(len(weights), size=n, p=weights / weights.sum())
        return [convert_value(a["elements"][i][0], ptype, spec.parameter) for i in idx.tolist()]
    if ptype not in NUMERIC_TYPES:
        raise ScenarioError(f"{spec.parameter}: a {kind} distribution needs a numeric parameter")
    if kind == "uniform":
        lo, hi = a["range"]
        out = rng.uniform(lo, hi, size=n)
    elif kind == "histogram":
        weights = np.array([w for w, _ in a["bins"]], dtype=float)
        which = rng.choice(len(weights), size=n, p=weights / weights.sum())
        lows = np.array([r[0] for _, r in a["bins"]])[which]
        highs = np.array([r[1] for _, r in a["bins"]])[which]
        out = lows + (highs - lows) * rng.random(n)
    else:

        def sample(k: int) -> np.ndarray:
            if kind == "normal":
                return rng.normal(a["mean"], a["std"], size=k)
            if kind == "lognormal":
                return rng.lognormal(a["mean"], a["std"], size=k)
            return rng.poisson(a["mean"], size=k).astype(float)

        out = np.empty(0)
        for _ in range(1000):
            if out.size >= n:
                break
            batch = sample(max(n - out.size, 16) * 2)
            if a["range"] is not None:
                lo, hi = a["range"]
                batch = batch[(batch >= lo) & (batch <= hi)]
            out = np.concatenate([out, batch])
        if out.size < n:
            raise ScenarioError(f"{spec.parameter}: Range keeps too few {kind} samples")
        out = out[:n]
    values = []
    for v in out.tolist():
        if ptype != "double":
            v = _round_half_away(v)
        values.append(convert_value(v, ptype, spec.parameter))
    return values


def _iter_assignments(dist: Distribution, seed: int | None) -> Iterator[dict[str, Any]]:
    if dist.stochastic:
        n = int(dist.number_of_test_runs or 0)
        rng = np.random.default_rng(seed)
        columns = {
            s.parameter: _draw(s, n, rng, dist.scenario.parameters[s.parameter].type)
            for s in dist.stochastic
        }
        for i in range(n):
            yield {name: col[i] for name, col in columns.items()}
        return
    for combo in itertools.product(*dist.dimensions):
        merged: dict[str, Any] = {}
        for option in combo:
            merged.update(option)
        yield merged


def expand(
    source: Distribution | str | Path | bytes,
    seed: int | None = None,
    max_cases: int = 1_000_000,
    base_dir: str | Path | None = None,
    root: str | Path | None = None,
    name: str | None = None,
) -> Expansion:
    """Concrete cases of a distribution (or the single default case of a plain scenario).

    Deterministic distributions combine as a cartesian product, in document order with the last
    distribution varying fastest; each ``ParameterValueSet`` of a multi-parameter distribution
    is one alternative. Stochastic distributions draw ``numberOfTestRuns`` cases with numpy's
    PCG64 seeded by ``seed`` if given, else the file's ``randomSeed``, else 0; parameters are
    drawn one after the other in document order, so the same seed gives the same cases. Every
    case holds all global parameters of the scenario (defaults for the undistributed ones);
    cases violating the scenario's constraints are discarded and counted. Raises
    :class:`ScenarioError` beyond ``max_cases`` combinations. ``root`` and ``name`` are passed
    to :func:`load_distribution`: where the scenario file may lie, how messages name the file.
    """
    if isinstance(source, Distribution):
        dist = source
    else:
        data, path, what = _read(source, "OpenSCENARIO", name)
        doc = _parse_xml(data, what)
        if document_kind(doc) != DISTRIBUTION:
            scenario = _scenario_from_root(doc, path, what)
            values = scenario.defaults()
            ok = scenario.is_valid(values)
            return Expansion(scenario, [values] if ok else [], 0 if ok else 1)
        dist = load_distribution(
            data if path is None else path, base_dir=base_dir, root=root, name=name
        )
    total = dist.size()
    if total > max_cases:
        raise ScenarioError(f"distribution has {total} combinations, more than {max_cases}")
    used_seed = None
    if dist.stochastic:
        used_seed = seed if seed is not None else (dist.random_seed or 0)
    scenario = dist.scenario
    cases: list[dict[str, Any]] = []
    discarded = 0
    for assignment in _iter_assignments(dist, used_seed):
        values = scenario.concrete(assignment)
        if scenario.is_valid(values):
            cases.append(values)
        else:
            discarded += 1
    return Expansion(scenario, cases, discarded, dist.varied, used_seed)
