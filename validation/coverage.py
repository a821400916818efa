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
        return [f"{lo:g}–{hi:g}" for lo, hi in zip(self.edges[:-1], self.edges[1:], strict=True)]

    def __len__(self) -> int:
        return len(self.values) if self.values else len(self.edges) - 1


def numeric_axis(name: str, low: float, high: float, bins: int) -> Axis:
    if not 1 <= bins <= MAX_BINS:
        raise CoverageError(f"{name}: give 1 to {MAX_BINS} bins, not {bins}")
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        raise CoverageError(f"{name}: the range {low:g} to {high:g} is not a range")
    if high == low:
        high = low + 1.0
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
