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

from compliance import scope as criterion_scope
from validation.verdicts import CriterionSpec, case_fails

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


def _key(scenario: str, params: Mapping) -> str:
    return scenario + "\x00" + json.dumps(params, sort_keys=True, separators=(",", ":"))


def match(base_keys: Sequence[str], head_keys: Sequence[str]) -> tuple[list[int], list[int]]:
    """Positions of the matched pairs: ``(base_positions, head_positions)``; the k-th base case
    with a key pairs with the k-th head case with the same key."""
    waiting: dict[str, list[int]] = defaultdict(list)
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
    return np.fromiter((_number(r.get(name)) for r in rows), dtype=float, count=len(rows))


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
) -> dict:
    """Compare the ``head`` run's cases with the ``base`` run's (each a sequence of
    :class:`validation.verdicts.Case`) under ``criteria``; see the module docstring.

    Returns a JSON-ready report: ``matched``, ``only_base``, ``only_head``, one entry per
    criterion under ``criteria`` (counts, rates, p-value, flips per scenario, the flipped cases
    by id), ``kpis`` (deltas per scenario and the listed cases), ``regressed`` and
    ``regressions`` (one line per reason).
    """
    base_keys = [_key(c.scenario, c.params) for c in base]
    head_keys = [_key(c.scenario, c.params) for c in head]
    base_pos, head_pos = match(base_keys, head_keys)
    matched_base = np.asarray(base_pos, dtype=np.int64)
    matched_head = np.asarray(head_pos, dtype=np.int64)
    base_scen = [c.scenario for c in base]
    pair_scen = np.asarray([base_scen[i] for i in base_pos], dtype=object)

    report_criteria, regressions = [], []
    flipped_ids: set[int] = set()  # positions (in the matched pairs) of every flipped case
    for criterion in criteria:
        entry, flips = _compare_criterion(
            criterion,
            base,
            head,
            base_keys,
            head_keys,
            matched_base,
            matched_head,
            pair_scen,
            odd_tags,
            limit,
        )
        flipped_ids.update(flips)
        report_criteria.append(entry)
        regressions.extend(f"{entry['criterion']}: {reason}" for reason in entry["reasons"])

    kpis = _kpi_deltas(
        base, head, matched_base, matched_head, pair_scen, criteria, flipped_ids, limit
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


def _judged_mask(criterion: CriterionInput, cases, keys, odd_tags, cache: dict) -> np.ndarray:
    """Which cases the criterion judges (inside its scope, scenario speaking to it); the
    scope is evaluated once per distinct scenario and parameters."""
    speaking: dict[str, bool] = {}
    out = np.zeros(len(cases), dtype=bool)
    for i, case in enumerate(cases):
        speaks = speaking.get(case.scenario)
        if speaks is None:
            speaks = speaking[case.scenario] = bool(criterion.speaks(case.scenario))
        if not speaks:
            continue
        inside = cache.get(keys[i])
        if inside is None:
            inside = cache[keys[i]] = criterion_scope.contains(
                criterion.scope,
                scenario=case.scenario,
                params=case.params,
                odd_tags=odd_tags.get(case.scenario, ()),
            )
        out[i] = inside
    return out


def _fail_mask(spec: CriterionSpec, cases, judged: np.ndarray) -> np.ndarray:
    out = np.zeros(len(cases), dtype=bool)
    if spec.unit == "cases":
        for i in np.flatnonzero(judged):
            out[i] = case_fails(spec, dict(cases[i].kpis))
    else:
        for i in np.flatnonzero(judged):
            out[i] = bool(int(cases[i].kpis.get("events", 0) or 0))
    return out


def _exposure(spec: CriterionSpec, cases, judged: np.ndarray) -> float:
    field = "distance_km" if spec.unit == "km" else "duration_h"
    return math.fsum(float(cases[i].kpis.get(field) or 0.0) for i in np.flatnonzero(judged))


def _compare_criterion(
    criterion, base, head, base_keys, head_keys, mb, mh, pair_scen, odd_tags, limit
):
    spec = criterion.spec
    cache: dict[str, bool] = {}
    judged_b = _judged_mask(criterion, base, base_keys, odd_tags, cache)
    judged_h = _judged_mask(criterion, head, head_keys, odd_tags, cache)
    fail_b = _fail_mask(spec, base, judged_b)
    fail_h = _fail_mask(spec, head, judged_h)
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
            {"base": base[mb[j]].case_id, "head": head[mh[j]].case_id, "scenario": pair_scen[j]}
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


def _kpi_deltas(base, head, mb, mh, pair_scen, criteria, flipped: set[int], limit: int) -> dict:
    """Per scenario and KPI: pairs with a finite delta, mean, min and max delta, and how many
    changed; per case: the flipped cases, then the largest changes of the criteria's KPIs."""
    if not len(mb):
        return {"names": [], "scenarios": [], "cases": [], "changed_cases": 0}
    base_rows = [base[i].kpis for i in mb]
    head_rows = [head[i].kpis for i in mh]
    names = _numeric_kpis(base_rows[:50] + head_rows[:50])
    deltas, values = {}, {}
    for name in names:
        b, h = _column(base_rows, name), _column(head_rows, name)
        values[name] = (b, h)
        deltas[name] = _delta(b, h)
    changed = np.zeros(len(mb), dtype=bool)
    for d in deltas.values():
        changed |= d != 0
    scenarios = []
    for scen in sorted(set(pair_scen.tolist())):
        in_scen = pair_scen == scen
        for name in names:
            d = deltas[name][in_scen]
            finite = d[np.isfinite(d)]
            scenarios.append(
                {
                    "scenario": scen,
                    "kpi": name,
                    "pairs": int(in_scen.sum()),
                    "changed": int((d != 0).sum()),
                    "mean_delta": float(finite.mean()) if finite.size else None,
                    "min_delta": float(finite.min()) if finite.size else None,
                    "max_delta": float(finite.max()) if finite.size else None,
                }
            )
    order = sorted(flipped)
    watched = [c.spec.kpi for c in criteria if c.spec.kpi in deltas]
    if watched and len(order) < limit:
        size = np.zeros(len(mb))
        for name in watched:
            d = np.abs(deltas[name])
            size = np.maximum(size, np.where(np.isfinite(d), d, np.inf))
        seen = set(order)
        for j in np.argsort(-size, kind="stable"):
            if len(order) >= limit or size[j] == 0:
                break
            if int(j) not in seen:
                order.append(int(j))
    cases = []
    for j in order[:limit]:
        cases.append(
            {
                "base": base[mb[j]].case_id,
                "head": head[mh[j]].case_id,
                "scenario": pair_scen[j],
                "params": dict(base[mb[j]].params),
                "kpis": {
                    name: {
                        "base": _json_number(values[name][0][j]),
                        "head": _json_number(values[name][1][j]),
                        "delta": _json_number(deltas[name][j]),
                    }
                    for name in names
                    if deltas[name][j] != 0
                },
            }
        )
    return {
        "names": names,
        "scenarios": scenarios,
        "cases": cases,
        "changed_cases": int(changed.sum()),
    }
