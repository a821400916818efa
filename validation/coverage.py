"""Coverage of a run's cases over a parameter space: hits per bin, the holes, and the bins
below a goal ("at least N cases per bin").

An axis is a parameter: a numeric one is cut into ``bins`` equal bins between its low and high
values (given, or the range of the cases), a categorical one (an ODD condition such as the
surface or the lighting, or the scenario) has one bin per value. A case without a value for a
numeric axis, or outside its range, is counted as outside, never silently in a bin. The counts
are numpy arrays: a million cases take a fraction of a second per axis.

:func:`coverage` counts one axis at a time; :func:`grid` counts two axes at a time, which is
what the heatmap draws. Only the cases given count: the caller passes the cases a criterion
judges (its scope) to get that criterion's coverage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The most bins an axis may have, and the most cells a two-axis grid may have.
MAX_BINS = 100


class CoverageError(ValueError):
    """An axis or a goal that cannot be counted; the message names it."""


class UnknownParameter(CoverageError):
    """A parameter that none of the cases has."""


@dataclass(frozen=True)
class Axis:
    """One parameter cut into bins: ``edges`` for a numeric axis, ``values`` for a
    categorical one."""

    name: str
    edges: tuple[float, ...] = ()
    values: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        if self.values:
            return list(self.values)
        return [
            f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"
            for lo, hi in zip(self.edges[:-1], self.edges[1:], strict=True)
        ]

    def __len__(self) -> int:
        return len(self.values) if self.values else len(self.edges) - 1


def numeric_axis(name: str, low: float, high: float, bins: int) -> Axis:
    if not 1 <= bins <= MAX_BINS:
        raise CoverageError(f"{name}: give 1 to {MAX_BINS} bins, not {bins}")
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        raise CoverageError(f"{name}: the range {low:g} to {high:g} is not a range")
    if high == low:  # one value: one bin, not bins that no value could fill
        return Axis(name, edges=(float(low), float(high)))
    return Axis(name, edges=tuple(np.linspace(low, high, bins + 1).tolist()))


def axis_for(name: str, column: np.ndarray, bins: int, bounds=None) -> Axis:
    """The axis of a parameter from its values (an object array): numeric when every value
    given is a number, categorical otherwise; ``bounds`` ``(low, high)`` fix a numeric
    range."""
    import pandas as pd

    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind in NUMERIC or bounds is not None:
        if bounds is None:
            values = _floats(column)
            values = values[np.isfinite(values)]
            if not values.size:
                raise CoverageError(f"{name}: no finite value to bin")
            bounds = (float(values.min()), float(values.max()))
        return numeric_axis(name, float(bounds[0]), float(bounds[1]), bins)
    distinct = sorted({str(v) for v in pd.unique(column) if v is not None and v == v})
    if not distinct:
        raise CoverageError(f"{name}: no case has a value")
    if len(distinct) > MAX_BINS:
        raise CoverageError(f"{name}: {len(distinct)} values, at most {MAX_BINS} bins")
    return Axis(name, values=tuple(distinct))


def bin_index(axis: Axis, column: np.ndarray) -> np.ndarray:
    """The bin of each case on ``axis`` (an object array of values), -1 when outside."""
    if axis.values:
        lookup = {v: i for i, v in enumerate(axis.values)}
        import pandas as pd

        try:
            codes, distinct = pd.factorize(column, use_na_sentinel=True)
        except TypeError:  # unhashable values (lists): one by one
            return np.array(
                [lookup.get(str(v), -1) if v is not None else -1 for v in column], dtype=np.int64
            )
        mapped = np.array(
            [lookup.get(str(v), -1) if v is not None else -1 for v in distinct] + [-1],
            dtype=np.int64,
        )
        return mapped[codes]  # code -1 (missing) takes the trailing -1
    values = _floats(column)
    edges = np.asarray(axis.edges)
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = len(edges) - 2  # the high edge belongs to the last bin
    outside = ~np.isfinite(values) | (values < edges[0]) | (values > edges[-1])
    index[outside] = -1
    return index


#: What pandas calls a column of numbers (with missing values skipped): booleans are not.
NUMERIC = frozenset({"floating", "integer", "mixed-integer-float", "decimal"})


def _floats(column: np.ndarray) -> np.ndarray:
    """The column as floats: NaN for a missing value, a boolean or text."""
    import pandas as pd

    if pd.api.types.infer_dtype(column, skipna=True) in NUMERIC:
        values = np.asarray(column, dtype=float)  # None becomes NaN
    else:
        values = np.array(
            [
                float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
                for v in column
            ],
            dtype=float,
        )
    return values


def _check_goal(goal: int) -> None:
    if goal < 1:
        raise CoverageError(f"the goal is at least 1 case per bin, not {goal}")


def coverage(axis: Axis, column: np.ndarray, *, goal: int = 1) -> dict:
    """Hits per bin of one axis, the holes (no case) and the bins below ``goal``."""
    _check_goal(goal)
    index = bin_index(axis, column)
    inside = index >= 0
    hits = np.bincount(index[inside], minlength=len(axis))
    labels = axis.labels
    return {
        "parameter": axis.name,
        "kind": "values" if axis.values else "range",
        "bins": [{"bin": label, "hits": int(n)} for label, n in zip(labels, hits, strict=True)],
        "outside": int((~inside).sum()),
        "holes": [label for label, n in zip(labels, hits, strict=True) if n == 0],
        "below_goal": [label for label, n in zip(labels, hits, strict=True) if n < goal],
        "goal": goal,
        "met": bool((hits >= goal).all()),
    }


def grid(x: Axis, y: Axis, x_column: np.ndarray, y_column: np.ndarray, *, goal: int = 1) -> dict:
    """Hits per cell of two axes (``counts[j][i]`` for x bin i and y bin j), the holes and the
    cells below ``goal``."""
    _check_goal(goal)
    if len(x) * len(y) > MAX_BINS * MAX_BINS:
        raise CoverageError("too many cells")
    xi, yi = bin_index(x, x_column), bin_index(y, y_column)
    inside = (xi >= 0) & (yi >= 0)
    flat = np.bincount(yi[inside] * len(x) + xi[inside], minlength=len(x) * len(y))
    counts = flat.reshape(len(y), len(x))
    return {
        "x": {"parameter": x.name, "bins": x.labels},
        "y": {"parameter": y.name, "bins": y.labels},
        "counts": counts.tolist(),
        "outside": int((~inside).sum()),
        "holes": int((counts == 0).sum()),
        "below_goal": int((counts < goal).sum()),
        "cells": int(counts.size),
        "goal": goal,
    }


def parameter_names(params: Sequence[dict], limit: int = 2000) -> list[str]:
    """The parameters the cases have (from the first ``limit``), by name."""
    names: set[str] = set()
    for p in params[:limit]:
        names.update(p)
    return sorted(names)


# --- A campaign's coverage plan, and the coverage recorded with a verdict ----------------------

#: Bins of a numeric parameter and the goal per bin when a campaign's plan does not say.
DEFAULT_BINS = 5
DEFAULT_GOAL = 1
PLAN_KEYS = ("bins", "goal", "parameters", "odd")
MAX_AXES = 50


def _count(value, what: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise CoverageError(f"{what}: give a whole number of at least {low}, not {value!r}")
    if high is not None and value > high:
        raise CoverageError(f"{what}: give {low} to {high}, not {value}")
    return value


def _names(value, what: str) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > MAX_BINS:
        raise CoverageError(f"{what}: give a list of 1 to {MAX_BINS} values")
    if any(not isinstance(v, str) or not v.strip() for v in value):
        raise CoverageError(f"{what}: every value is a non-empty text")
    return sorted({v.strip() for v in value})


def _axis_plan(name: str, spec) -> dict:
    if not isinstance(spec, dict) or set(spec) - {"bins", "range", "values"}:
        raise CoverageError(f"parameters.{name}: give {{}} or bins, range [low, high] or values")
    out: dict = {}
    if "values" in spec:
        if set(spec) != {"values"}:
            raise CoverageError(f"parameters.{name}: values cannot go with bins or a range")
        out["values"] = _names(spec["values"], f"parameters.{name}.values")
    if "bins" in spec:
        out["bins"] = _count(spec["bins"], f"parameters.{name}.bins", 1, MAX_BINS)
    if "range" in spec:
        bounds = spec["range"]
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bounds)
            or not all(math.isfinite(b) for b in bounds)
            or bounds[1] <= bounds[0]
        ):
            raise CoverageError(f"parameters.{name}.range: give [low, high] with low below high")
        out["range"] = [int(b) if float(b).is_integer() else float(b) for b in bounds]
    return out


def clean_plan(plan) -> dict:
    """A campaign's coverage plan in its canonical form, or :class:`CoverageError` naming what
    is wrong. A plan is a JSON object, every key optional::

        {"bins": 5, "goal": 3,
         "parameters": {"ego_speed": {"bins": 8, "range": [10, 80]},
                        "target_type": {"values": ["car", "truck", "pedestrian"]}},
         "odd": {"surface": ["dry", "wet", "icy"], "lighting": ["day", "night"]}}

    ``bins`` and ``goal`` apply to every parameter (default 5 bins, at least 1 case per bin);
    ``parameters`` names the parameters to cover (all the cases have when it is absent), each
    with its own bins and range or its values (a value no case has is a hole); ``odd`` names
    ODD dimensions and the values to cover: a case's value is its parameter of that name, or
    else the value among its scenario's ODD tags (as a criterion's scope reads them)."""
    if plan in (None, ""):
        plan = {}
    if not isinstance(plan, dict):
        raise CoverageError("give the coverage plan as a JSON object")
    unknown = sorted(set(plan) - set(PLAN_KEYS))
    if unknown:
        raise CoverageError(f"{', '.join(unknown)}: not a key of a coverage plan")
    parameters = plan.get("parameters") or {}
    odd = plan.get("odd") or {}
    if not isinstance(parameters, dict) or not isinstance(odd, dict):
        raise CoverageError("parameters and odd: give JSON objects")
    if len(parameters) + len(odd) > MAX_AXES:
        raise CoverageError(f"cover at most {MAX_AXES} parameters and ODD dimensions")
    return {
        "bins": _count(plan.get("bins", DEFAULT_BINS), "bins", 1, MAX_BINS),
        "goal": _count(plan.get("goal", DEFAULT_GOAL), "goal", 1),
        "parameters": {str(n): _axis_plan(str(n), parameters[n]) for n in sorted(parameters)},
        "odd": {str(d): _names(odd[d], f"odd.{d}") for d in sorted(odd)},
    }


def _odd_column(dim: str, values: tuple[str, ...], cols, odd_tags) -> np.ndarray:
    """Each case's value of an ODD dimension: its parameter of that name, or else the value
    among its scenario's ODD tags (found once per scenario)."""
    import pandas as pd

    allowed = set(values)
    column = cols.param(dim).copy()
    missing = pd.isna(column)
    if missing.any():
        scenarios = cols.scenarios[missing]
        tagged = {
            name: next((t for t in sorted(odd_tags.get(name, ())) if t in allowed), None)
            for name in pd.unique(scenarios)
        }
        column[missing] = pd.Series(scenarios).map(tagged).to_numpy(dtype=object)
    return column


def _unmeasured(name: str, kind: str, cases: int, goal: int, why: str) -> dict:
    return {
        "parameter": name,
        "kind": kind,
        "bins": [],
        "outside": cases,
        "holes": [],
        "below_goal": [],
        "goal": goal,
        "met": False,
        "note": why,
    }


def measure(cases: Sequence, plan: dict, odd_tags) -> dict:
    """The coverage of ``cases`` (objects with ``scenario`` and ``params``: the cases one
    criterion judged) under a clean ``plan`` (:func:`clean_plan`): per parameter and ODD
    dimension its bins, hits, holes and goal, and the totals (bins hit of all bins, holes,
    whether every bin meets the goal). A planned parameter no case gives a number for is
    listed with no bins and not met: nothing shows it was covered."""
    from validation.comparison import Columns

    goal = plan["goal"]
    cols = Columns(cases)
    planned = plan["parameters"]
    names = list(planned) or parameter_names([c.params for c in cases])
    parameters = []
    for name in names:
        spec = planned.get(name, {})
        column = cols.param(name)
        try:
            if "values" in spec:
                axis = Axis(name, values=tuple(spec["values"]))
            else:
                axis = axis_for(name, column, spec.get("bins", plan["bins"]), spec.get("range"))
        except CoverageError as exc:
            if name in planned:
                parameters.append(_unmeasured(name, "range", len(cases), goal, str(exc)))
            continue
        parameters.append(coverage(axis, column, goal=goal))
    for dim, values in plan["odd"].items():
        axis = Axis(dim, values=tuple(values))
        found = coverage(axis, _odd_column(dim, axis.values, cols, odd_tags), goal=goal)
        parameters.append({**found, "kind": "odd"})
    total = sum(len(p["bins"]) for p in parameters)
    hit = sum(1 for p in parameters for b in p["bins"] if b["hits"])
    return {
        "cases": len(cases),
        "plan": plan,
        "goal": goal,
        "parameters": parameters,
        "bins_total": total,
        "bins_hit": hit,
        "holes": total - hit,
        "below_goal": sum(len(p["below_goal"]) for p in parameters),
        "met": bool(parameters) and all(p["met"] for p in parameters),
    }


def summary(record: dict) -> dict:
    """What a run's ledger statement says of a verdict's coverage: the totals and the SHA-256
    of the canonical JSON of the whole record (:func:`digest`)."""
    return {
        "sha256": digest(record),
        "bins": record["bins_total"],
        "hit": record["bins_hit"],
        "holes": record["holes"],
        "met": record["met"],
    }


def digest(record) -> str:
    import hashlib

    from evidence.verify import canonical_json

    return hashlib.sha256(canonical_json(record)).hexdigest()
