"""Regression between two runs: did the head version get worse than the base version?

The cases of the two runs are matched by scenario and parameters (the k-th case of a scenario
with given parameters in the base run pairs with the k-th such case of the head run; case ids
need not agree). Per acceptance criterion, and only over the cases inside its scope whose
scenario speaks to it (as a run judges them, :func:`validation.verdicts.judge_in_scope`):

- a flip matrix per scenario over the matched cases: pass to pass, pass to fail, fail to pass,
  fail to fail;
- the failure rates of both runs over every case they judged, and an exact one-sided test of
  "the head fails more often than the base": Fisher's exact test (hypergeometric tail) for a
  per-case criterion, the conditional binomial test of two Poisson rates for an exposure
  criterion (events per hour or km). The difference is significant when the p-value is at or
  below one minus the criterion's confidence.

A criterion *regresses* when its difference is significant or when any matched case flipped
from pass to fail; the comparison regresses when any criterion does. KPI deltas (head minus
base) are given per scenario for every numeric KPI, and per case for the flipped cases and the
largest changes of the criteria's KPIs.

Nothing here touches the database: :func:`compare` takes the cases and the criteria as plain
values, so a continuous-integration gate and the tests see the same arithmetic.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from validation.verdicts import COMPARATORS, IMPACT_KPIS, CriterionSpec

#: How many cases a comparison lists by name (flipped cases and largest KPI changes).
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class CriterionInput:
    """A criterion as a comparison reads it: its statistics, scope and the scenarios that
    speak to it."""

    spec: CriterionSpec
    scope: Mapping
    speaks: Callable[[str], bool]


def spec_of(criterion) -> CriterionSpec:
    """The statistics of an acceptance criterion (any object with its fields), as a verdict
    reads them."""
    return CriterionSpec(
        code=criterion.code,
        unit=criterion.unit,
        confidence=criterion.confidence,
        allowed_probability=criterion.allowed_failure_probability,
        allowed_rate=criterion.hazardous_behaviour_rate,
        kpi=criterion.kpi,
        comparator=criterion.comparator,
        threshold=criterion.threshold,
        target=criterion.validation_target,
    )


# --- Exact tests -------------------------------------------------------------------------------


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(failures_base: int, trials_base: int, failures_head: int, trials_head: int):
    """One-sided p-value of Fisher's exact test that the head's failure probability is above
    the base's: the probability, with both margins of the 2x2 table fixed, that the head shows
    ``failures_head`` or more of the ``failures_base + failures_head`` failures
    (hypergeometric upper tail). ``None`` when either run judged no case."""
    if trials_base <= 0 or trials_head <= 0:
        return None
    total = trials_base + trials_head
    failed = failures_base + failures_head
    low = max(failures_head, failed - trials_base)
    high = min(failed, trials_head)
    if low > high:
        return 0.0
    denominator = _log_comb(total, trials_head)
    p = math.fsum(
        math.exp(_log_comb(failed, x) + _log_comb(total - failed, trials_head - x) - denominator)
        for x in range(low, high + 1)
    )
    return min(1.0, p)


def poisson_rates_greater(events_base: int, exposure_base: float, events_head: int, exposure_head):
    """One-sided p-value that the head's event rate is above the base's (exact conditional
    test): given ``n = events_base + events_head``, the head's events are binomial with
    probability ``exposure_head / (exposure_base + exposure_head)`` under equal rates; the
    p-value is ``P(X >= events_head)``. ``None`` when either exposure is zero."""
    if not exposure_base or not exposure_head or exposure_base <= 0 or exposure_head <= 0:
        return None
    n = events_base + events_head
    if events_head == 0:
        return 1.0
    q = exposure_head / (exposure_base + exposure_head)
    log_q, log_r = math.log(q), math.log1p(-q)
    p = math.fsum(
        math.exp(_log_comb(n, x) + x * log_q + (n - x) * log_r) for x in range(events_head, n + 1)
    )
    return min(1.0, p)


# --- Matching ----------------------------------------------------------------------------------


def _key(scenario: str, params: Mapping):
    """What matches two cases: the scenario and the parameters (compared as values, in any
    order of the keys); parameters that are not plain values compare as canonical JSON."""
    try:
        key = (scenario, tuple(sorted(params.items())))
        hash(key)
    except TypeError:
        key = (scenario, json.dumps(params, sort_keys=True, separators=(",", ":")))
    return key


def match(base_keys: Sequence, head_keys: Sequence) -> tuple[list[int], list[int]]:
    """Positions of the matched pairs: ``(base_positions, head_positions)``; the k-th base case
    with a key pairs with the k-th head case with the same key."""
    waiting: dict[object, list[int]] = defaultdict(list)
    for i in range(len(head_keys) - 1, -1, -1):
        waiting[head_keys[i]].append(i)
    base_pos, head_pos = [], []
    for i, key in enumerate(base_keys):
        queue = waiting.get(key)
        if queue:
            base_pos.append(i)
            head_pos.append(queue.pop())
    return base_pos, head_pos


# --- KPIs --------------------------------------------------------------------------------------


def _number(value) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return math.nan


def _numeric_kpis(samples: Iterable[Mapping]) -> list[str]:
    names = set()
    for kpis in samples:
        for name, value in kpis.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                names.add(name)
    return sorted(names)


def _column(rows: Sequence[Mapping], name: str) -> np.ndarray:
    """The KPI ``name`` of every row as floats: missing as NaN, "inf" as infinity."""
    values = [r.get(name) for r in rows]
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return np.fromiter((_number(v) for v in values), dtype=float, count=len(values))


def _delta(base: np.ndarray, head: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        delta = head - base
    same = (base == head) | (np.isnan(base) & np.isnan(head))
    return np.where(same, 0.0, delta)


def _json_number(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


# --- The comparison ----------------------------------------------------------------------------


def compare(
    base: Sequence,
    head: Sequence,
    criteria: Sequence[CriterionInput],
    *,
    odd_tags: Mapping[str, Iterable[str]],
    limit: int = DEFAULT_LIMIT,
    keys: tuple[Sequence, Sequence] | None = None,
) -> dict:
    """Compare the ``head`` run's cases with the ``base`` run's (each a sequence of
    :class:`validation.verdicts.Case`) under ``criteria``; see the module docstring.

    Returns a JSON-ready report: ``matched``, ``only_base``, ``only_head``, one entry per
    criterion under ``criteria`` (counts, rates, p-value, flips per scenario, the flipped cases
    by id), ``kpis`` (deltas per scenario and the listed cases), ``regressed`` and
    ``regressions`` (one line per reason).

    ``keys`` are the match keys of the base and head cases when the caller has them already
    (the scenario and the parameters' canonical text, as the database stores them); by
    default the parameters are compared as values.
    """
    if keys is None:
        keys = (
            [_key(c.scenario, c.params) for c in base],
            [_key(c.scenario, c.params) for c in head],
        )
    base_keys, head_keys = keys
    base_pos, head_pos = match(base_keys, head_keys)
    matched_base = np.asarray(base_pos, dtype=np.int64)
    matched_head = np.asarray(head_pos, dtype=np.int64)
    base_scen = [c.scenario for c in base]
    pair_scen = np.asarray([base_scen[i] for i in base_pos], dtype=object)

    base_cols, head_cols = Columns(base), Columns(head)
    report_criteria, regressions = [], []
    flipped_ids: set[int] = set()  # positions (in the matched pairs) of every flipped case
    for criterion in criteria:
        entry, flips = _compare_criterion(
            criterion, base_cols, head_cols, matched_base, matched_head, pair_scen, odd_tags, limit
        )
        flipped_ids.update(flips)
        report_criteria.append(entry)
        regressions.extend(f"{entry['criterion']}: {reason}" for reason in entry["reasons"])

    kpis = _kpi_deltas(
        base_cols, head_cols, matched_base, matched_head, pair_scen, criteria, flipped_ids, limit
    )
    return {
        "matched": len(base_pos),
        "only_base": len(base) - len(base_pos),
        "only_head": len(head) - len(head_pos),
        "criteria": report_criteria,
        "kpis": kpis,
        "regressed": bool(regressions),
        "regressions": regressions,
    }


class Columns:
    """The cases of one run as columns, each built once and shared by every criterion: the
    scenarios, parameters (raw, numeric, present) and KPIs (as floats, or raw)."""

    def __init__(self, cases: Sequence):
        self.cases = cases
        self.scenarios = np.array([c.scenario for c in cases], dtype=object)
        self._cache: dict = {}

    def __len__(self) -> int:
        return len(self.cases)

    def _memo(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def param(self, name: str) -> np.ndarray:
        return self._memo(
            ("param", name),
            lambda: np.array([c.params.get(name) for c in self.cases] + [None], dtype=object)[:-1],
        )

    def has_param(self, name: str) -> np.ndarray:
        return self._memo(
            ("has", name),
            lambda: np.fromiter((name in c.params for c in self.cases), bool, len(self.cases)),
        )

    def param_number(self, name: str) -> np.ndarray:
        """The parameter as a finite number, NaN where it is none (booleans and text are not
        numbers), as :func:`compliance.scope.contains` reads a bound."""

        def build():
            raw = self.param(name)
            values = np.array(
                [v if type(v) is float or type(v) is int else math.nan for v in raw], dtype=float
            )
            values[~np.isfinite(values)] = math.nan
            return values

        return self._memo(("number", name), build)

    def kpi(self, name: str) -> np.ndarray:
        return self._memo(("kpi", name), lambda: _column([c.kpis for c in self.cases], name))

    def kpi_truthy(self, name: str) -> np.ndarray:
        return self._memo(
            ("truthy", name),
            lambda: np.fromiter((bool(c.kpis.get(name)) for c in self.cases), bool, len(self)),
        )


def _mapped(values: np.ndarray, rule: Callable) -> np.ndarray:
    """``rule`` of every value, worked out once per distinct value."""
    import pandas as pd

    try:
        codes, distinct = pd.factorize(values, use_na_sentinel=False)
    except TypeError:  # an unhashable value (a list): case by case below
        pass
    else:
        if len(distinct) and all(type(v) in (str, int, float, bool, type(None)) for v in distinct):
            rules = np.fromiter((bool(rule(v)) for v in distinct), bool, len(distinct))
            return rules[codes]
    memo: dict = {}
    out = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values):
        try:
            hit = memo.get(value)
        except TypeError:  # an unhashable value (a list): no memo
            out[i] = rule(value)
            continue
        if hit is None:
            hit = memo[value] = bool(rule(value))
        out[i] = hit
    return out


def scope_mask(scope: Mapping, cols: Columns, odd_tags: Mapping) -> np.ndarray:
    """Which cases are inside the canonical ``scope``: :func:`compliance.scope.contains` over
    columns (the tests hold the two to the same answers)."""
    mask = np.ones(len(cols), dtype=bool)
    names = scope.get("scenarios")
    if names:
        wanted = {n.casefold() for n in names}
        by_name = _mapped(cols.scenarios, lambda s: s.casefold() in wanted)
        by_kind = _mapped(
            cols.param("scenario"), lambda k: isinstance(k, str) and k.casefold() in wanted
        )
        mask &= by_name | by_kind
    for name, (low, high) in (scope.get("parameters") or {}).items():
        values = cols.param_number(name)
        inside = ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            if low is not None:
                inside &= values >= low
            if high is not None:
                inside &= values <= high
        mask &= inside
    for dim, allowed in (scope.get("odd") or {}).items():
        allowed = set(allowed)
        by_value = _mapped(cols.param(dim), lambda v, a=allowed: str(v) in a)
        by_tags = _mapped(
            cols.scenarios, lambda s, a=allowed: bool(a.intersection(odd_tags.get(s, ())))
        )
        mask &= np.where(cols.has_param(dim), by_value, by_tags)
    return mask


def judged_mask(criterion: CriterionInput, cols: Columns, odd_tags) -> np.ndarray:
    """Which cases the criterion judges: inside its scope, of a scenario speaking to it."""
    speaks = _mapped(cols.scenarios, criterion.speaks)
    return speaks & scope_mask(criterion.scope, cols, odd_tags)


def fail_mask(spec: CriterionSpec, cols: Columns) -> np.ndarray:
    """Which cases fail the criterion: :func:`validation.verdicts.case_fails` over columns for
    a per-case criterion, a case with an event for an exposure criterion."""
    if spec.unit != "cases":
        events = cols.kpi("events")
        return np.nan_to_num(events, nan=0.0) != 0
    fails = np.zeros(len(cols), dtype=bool)
    if spec.kpi not in IMPACT_KPIS:
        fails |= cols.kpi_truthy("collision")
    if not spec.kpi:
        return fails
    values = cols.kpi(spec.kpi)
    missing = np.isnan(values)
    compare_op = COMPARATORS.get(spec.comparator)
    if compare_op is None or spec.threshold is None:
        return fails | missing
    with np.errstate(invalid="ignore"):
        met = compare_op(values, spec.threshold)
    return fails | missing | ~met


def _exposure(spec: CriterionSpec, cols: Columns, judged: np.ndarray) -> float:
    field = "distance_km" if spec.unit == "km" else "duration_h"
    values = np.nan_to_num(cols.kpi(field)[judged], nan=0.0)
    return math.fsum(values.tolist())


def _compare_criterion(criterion, base: Columns, head: Columns, mb, mh, pair_scen, odd_tags, limit):
    spec = criterion.spec
    judged_b = judged_mask(criterion, base, odd_tags)
    judged_h = judged_mask(criterion, head, odd_tags)
    fail_b = fail_mask(spec, base) & judged_b
    fail_h = fail_mask(spec, head) & judged_h
    k1, n1 = int(fail_b.sum()), int(judged_b.sum())
    k2, n2 = int(fail_h.sum()), int(judged_h.sum())
    side = {"base": {"failures": k1, "trials": n1}, "head": {"failures": k2, "trials": n2}}
    if spec.unit == "cases":
        p_value = fisher_greater(k1, n1, k2, n2)
        test = "fisher-exact-one-sided"
        for name, (k, n) in (("base", (k1, n1)), ("head", (k2, n2))):
            side[name]["rate"] = k / n if n else None
    else:
        t1, t2 = _exposure(spec, base, judged_b), _exposure(spec, head, judged_h)
        p_value = poisson_rates_greater(k1, t1, k2, t2)
        test = "poisson-conditional-one-sided"
        for name, (k, t) in (("base", (k1, t1)), ("head", (k2, t2))):
            side[name]["exposure"] = t
            side[name]["rate"] = k / t if t else None
    alpha = 1.0 - spec.confidence
    significant = p_value is not None and p_value <= alpha

    both = judged_b[mb] & judged_h[mh] if len(mb) else np.zeros(0, dtype=bool)
    fb, fh = fail_b[mb], fail_h[mh]
    cells = {
        "pass_to_pass": both & ~fb & ~fh,
        "pass_to_fail": both & ~fb & fh,
        "fail_to_pass": both & fb & ~fh,
        "fail_to_fail": both & fb & fh,
    }
    flips = {name: int(mask.sum()) for name, mask in cells.items()}
    scenarios = []
    for name in sorted(set(pair_scen[both].tolist())):
        in_scen = pair_scen == name
        row = {"scenario": name}
        row.update({cell: int((mask & in_scen).sum()) for cell, mask in cells.items()})
        scenarios.append(row)

    def listed(mask):
        return [
            {
                "base": base.cases[mb[j]].case_id,
                "head": head.cases[mh[j]].case_id,
                "scenario": pair_scen[j],
            }
            for j in np.flatnonzero(mask)[:limit]
        ]

    reasons = []
    if flips["pass_to_fail"]:
        ids = [c["head"] for c in listed(cells["pass_to_fail"])[:5]]
        more = flips["pass_to_fail"] - len(ids)
        reasons.append(
            f"{flips['pass_to_fail']} case(s) flipped from pass to fail: "
            + ", ".join(ids)
            + (f" and {more} more" if more > 0 else "")
        )
    if significant:
        reasons.append(
            f"failure rate rose from {k1}/{n1} to {k2}/{n2}"
            if spec.unit == "cases"
            else f"event rate rose from {k1} to {k2} events"
        )
        reasons[-1] += f" (p = {p_value:.3g} <= {alpha:.3g}, {test})"
    entry = {
        "criterion": spec.code,
        "unit": spec.unit,
        "confidence": spec.confidence,
        "kpi": spec.kpi,
        "comparator": spec.comparator,
        "threshold": spec.threshold,
        "scope": dict(criterion.scope),
        "base": side["base"],
        "head": side["head"],
        "test": test,
        "p_value": p_value,
        "alpha": alpha,
        "significant": significant,
        "flips": flips,
        "scenarios": scenarios,
        "flipped_to_fail": listed(cells["pass_to_fail"]),
        "flipped_to_pass": listed(cells["fail_to_pass"]),
        "regressed": bool(reasons),
        "reasons": reasons,
    }
    flipped = np.flatnonzero(cells["pass_to_fail"] | cells["fail_to_pass"]).tolist()
    return entry, flipped


def _kpi_deltas(
    base: Columns, head: Columns, mb, mh, pair_scen, criteria, flipped: set[int], limit: int
) -> dict:
    """Per scenario and KPI: pairs, how many changed, and the mean, min and max delta (an
    unchanged pair's delta is 0); per case: the flipped cases, then the largest changes of
    the criteria's KPIs. Only the pairs whose KPIs differ at all are read KPI by KPI."""
    if not len(mb):
        return {"names": [], "scenarios": [], "cases": [], "changed_cases": 0}
    bk = [base.cases[i].kpis for i in mb]
    hk = [head.cases[i].kpis for i in mh]
    differ = np.flatnonzero(
        np.fromiter((b is not h and b != h for b, h in zip(bk, hk, strict=True)), bool, len(bk))
    )
    names = _numeric_kpis(bk[:50] + hk[:50] + [bk[j] for j in differ[:50]])
    deltas, values = {}, {}
    for name in names:
        b = _column([bk[j] for j in differ], name)
        h = _column([hk[j] for j in differ], name)
        values[name] = (b, h)
        deltas[name] = _delta(b, h)
    changed = np.zeros(len(differ), dtype=bool)
    for d in deltas.values():
        changed |= d != 0
    diff_scen = pair_scen[differ]
    scenarios = []
    for scen in sorted(set(pair_scen.tolist())):
        pairs = int((pair_scen == scen).sum())
        in_scen = diff_scen == scen
        unchanged = pairs - int(in_scen.sum())
        for name in names:
            d = deltas[name][in_scen]
            finite = d[np.isfinite(d)]
            if unchanged:
                finite = np.append(finite, 0.0)
            count = finite.size - (1 if unchanged else 0) + unchanged
            scenarios.append(
                {
                    "scenario": scen,
                    "kpi": name,
                    "pairs": pairs,
                    "changed": int((d != 0).sum()),
                    "mean_delta": float(finite.sum() / count) if count else None,
                    "min_delta": float(finite.min()) if finite.size else None,
                    "max_delta": float(finite.max()) if finite.size else None,
                }
            )
    order = sorted(flipped)
    position = {int(j): k for k, j in enumerate(differ)}
    watched = [c.spec.kpi for c in criteria if c.spec.kpi in deltas]
    if watched and len(order) < limit and len(differ):
        size = np.zeros(len(differ))
        for name in watched:
            d = np.abs(deltas[name])
            size = np.maximum(size, np.where(np.isfinite(d), d, np.inf))
        seen = set(order)
        for k in np.argsort(-size, kind="stable"):
            if len(order) >= limit or size[k] == 0:
                break
            if int(differ[k]) not in seen:
                order.append(int(differ[k]))
    cases = []
    for j in order[:limit]:
        k = position.get(j)
        cases.append(
            {
                "base": base.cases[mb[j]].case_id,
                "head": head.cases[mh[j]].case_id,
                "scenario": pair_scen[j],
                "params": dict(base.cases[mb[j]].params),
                "kpis": {}
                if k is None
                else {
                    name: {
                        "base": _json_number(values[name][0][k]),
                        "head": _json_number(values[name][1][k]),
                        "delta": _json_number(deltas[name][k]),
                    }
                    for name in names
                    if deltas[name][k] != 0
                },
            }
        )
    return {
        "names": names,
        "scenarios": scenarios,
        "cases": cases,
        "changed_cases": int(changed.sum()),
    }
