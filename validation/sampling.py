"""Sampling of scenario parameter spaces: full grid, seeded random, seeded Latin hypercube.

Pure Python (numpy); no Django.

A *parameter space* maps each parameter name to one of:

- a tuple ``(low, high)``: a continuous range (floats, ``low <= high``);
- a tuple ``(low, high, step)``: a range that the grid walks with ``step`` (``high`` included up
  to rounding, as in OpenSCENARIO's ``DistributionRange``); random and Latin hypercube sampling
  treat it as the continuous range ``(low, high)``;
- a list (or any other non-tuple sequence) of values: a discrete set, drawn with equal weight.

Every sampler returns a list of dicts ``{name: value}`` with keys in the order of the space,
floats for ranges and the listed values themselves for discrete sets. Same space, arguments and
seed give the same cases (numpy PCG64 seeded with ``seed``).

Caps (``cap``): at most ``cap`` cases are returned.

- :func:`grid`: when the grid has more points than ``cap``, a seeded uniform subsample of
  ``cap`` grid points without replacement is kept, returned in grid order;
- :func:`random_sample` and :func:`latin_hypercube`: ``min(n, cap)`` cases are drawn (the Latin
  hypercube is built for that smaller n, so it stays stratified).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "SamplingError",
    "grid",
    "grid_size",
    "latin_hypercube",
    "latin_hypercube_unit",
    "random_sample",
    "sample",
]

#: Number of grid points for a range given without a step.
DEFAULT_LEVELS = 5
_TOL = 1e-9


class SamplingError(ValueError):
    """A parameter space or sampling request that cannot be honoured."""


def _dimension(name: str, spec: Any) -> tuple[str, Any]:
    """Normalise one dimension to ("range", low, high, step|None) or ("set", values)."""
    if isinstance(spec, tuple):
        if len(spec) not in (2, 3):
            raise SamplingError(f"{name}: a range is (low, high) or (low, high, step)")
        try:
            low, high = float(spec[0]), float(spec[1])
            step = float(spec[2]) if len(spec) == 3 else None
        except (TypeError, ValueError) as exc:
            raise SamplingError(f"{name}: range limits must be numbers") from exc
        if not (math.isfinite(low) and math.isfinite(high)):
            raise SamplingError(f"{name}: range limits must be finite")
        if high < low:
            raise SamplingError(f"{name}: high {high} is below low {low}")
        if step is not None and not (math.isfinite(step) and step > 0):
            raise SamplingError(f"{name}: step must be positive")
        return name, ("range", low, high, step)
    if isinstance(spec, str | bytes) or not isinstance(spec, Sequence):
        raise SamplingError(f"{name}: expected a (low, high[, step]) tuple or a list of values")
    values = list(spec)
    if not values:
        raise SamplingError(f"{name}: empty list of values")
    return name, ("set", values)


def _space(space: Mapping[str, Any]) -> list[tuple[str, Any]]:
    if not space:
        raise SamplingError("the parameter space is empty")
    return [_dimension(str(name), spec) for name, spec in space.items()]


def _clean(value: float) -> float:
    return float(f"{value:.12g}")


def _grid_axis(dim: Any, levels: int) -> list[Any]:
    if dim[0] == "set":
        return dim[1]
    _, low, high, step = dim
    if step is None:
        if levels < 1:
            raise SamplingError("levels must be at least 1")
        if high == low:
            return [low]
        if levels == 1:
            return [_clean((low + high) / 2.0)]
        return [_clean(v) for v in np.linspace(low, high, levels).tolist()]
    count = int(math.floor((high - low) / step + _TOL)) + 1
    return [_clean(low + k * step) for k in range(count)]


def grid_size(space: Mapping[str, Any], levels: int = DEFAULT_LEVELS) -> int:
    """Number of points of the full grid of ``space``."""
    return math.prod(len(_grid_axis(dim, levels)) for _, dim in _space(space))


def grid(
    space: Mapping[str, Any],
    cap: int | None = None,
    seed: int = 0,
    levels: int = DEFAULT_LEVELS,
) -> list[dict[str, Any]]:
    """Full factorial grid, last parameter varying fastest.

    Ranges with a step are walked from low to high (high included up to rounding); ranges
    without a step get ``levels`` evenly spaced points including both ends (one point: the
    middle). Above ``cap`` points a seeded uniform subsample of ``cap`` points (without
    replacement) is kept, in grid order; the full grid is never materialised.
    """
    dims = _space(space)
    axes = [_grid_axis(dim, levels) for _, dim in dims]
    names = [name for name, _ in dims]
    sizes = [len(a) for a in axes]
    total = math.prod(sizes)
    if cap is not None and cap < 0:
        raise SamplingError("cap must not be negative")
    if cap is None or total <= cap:
        indices: Any = range(total)
    else:
        rng = np.random.default_rng(seed)
        if total <= 2**62:
            picked = rng.choice(total, size=cap, replace=False)
        else:  # beyond int64: draw digit by digit, reject duplicates
            seen: set[tuple[int, ...]] = set()
            while len(seen) < cap:
                seen.add(tuple(int(rng.integers(s)) for s in sizes))
            picked = sorted(seen)
            return [
                {n: axes[d][i] for d, (n, i) in enumerate(zip(names, digits, strict=True))}
                for digits in picked
            ]
        indices = sorted(int(i) for i in picked)
    out = []
    for flat in indices:
        digits = []
        rest = flat
        for size in reversed(sizes):
            rest, digit = divmod(rest, size)
            digits.append(digit)
        digits.reverse()
        out.append({n: axes[d][i] for d, (n, i) in enumerate(zip(names, digits, strict=True))})
    return out


def _n(n: int, cap: int | None) -> int:
    if n < 0:
        raise SamplingError("n must not be negative")
    if cap is not None:
        if cap < 0:
            raise SamplingError("cap must not be negative")
        n = min(n, cap)
    return int(n)


def _from_unit(dims: list[tuple[str, Any]], u: np.ndarray) -> list[dict[str, Any]]:
    """Map points of the unit cube (n x d) onto the space."""
    columns = []
    for j, (_, dim) in enumerate(dims):
        if dim[0] == "range":
            _, low, high, _ = dim
            columns.append((low + u[:, j] * (high - low)).tolist())
        else:
            values = dim[1]
            idx = np.minimum((u[:, j] * len(values)).astype(np.int64), len(values) - 1)
            columns.append([values[i] for i in idx.tolist()])
    names = [name for name, _ in dims]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def random_sample(
    space: Mapping[str, Any], n: int, seed: int = 0, cap: int | None = None
) -> list[dict[str, Any]]:
    """``min(n, cap)`` independent uniform draws (ranges uniform, sets with equal weight)."""
    dims = _space(space)
    m = _n(n, cap)
    rng = np.random.default_rng(seed)
    return _from_unit(dims, rng.random((m, len(dims))))


def latin_hypercube_unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    """An n x d Latin hypercube in [0, 1)^d: in every column each stratum [k/n, (k+1)/n) holds
    exactly one point (a random permutation of strata, a uniform position inside each)."""
    rng = np.random.default_rng(seed)
    strata = np.argsort(rng.random((d, n)), axis=1).T  # one permutation per column
    return (strata + rng.random((n, d))) / n if n else np.empty((0, d))


def latin_hypercube(
    space: Mapping[str, Any], n: int, seed: int = 0, cap: int | None = None
) -> list[dict[str, Any]]:
    """A seeded Latin hypercube of ``min(n, cap)`` cases.

    Each range is cut into n equal strata and each stratum holds exactly one case; a discrete
    set of k values is mapped from the unit interval (value i covers [i/k, (i+1)/k)), so each
    value appears n/k times when k divides n.
    """
    dims = _space(space)
    m = _n(n, cap)
    return _from_unit(dims, latin_hypercube_unit(m, len(dims), seed))


def sample(
    space: Mapping[str, Any],
    method: str,
    n: int | None = None,
    seed: int = 0,
    cap: int | None = None,
    levels: int = DEFAULT_LEVELS,
) -> list[dict[str, Any]]:
    """Dispatch on ``method``: ``grid``, ``random`` or ``lhs`` (``n`` required for the last two)."""
    if method == "grid":
        return grid(space, cap=cap, seed=seed, levels=levels)
    if method in ("random", "lhs"):
        if n is None:
            raise SamplingError(f"method {method!r} needs n")
        fn = random_sample if method == "random" else latin_hypercube
        return fn(space, n, seed=seed, cap=cap)
    raise SamplingError(f"unknown sampling method {method!r} (grid, random, lhs)")
