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
:func:`compare_stored` takes two runs' cases as the database stores them (JSON texts) and reads
them column by column (:class:`StoredColumns`): each distinct text is parsed once, by pyarrow's
JSON reader, and only the columns a criterion needs are built; the answer is
:func:`compare`'s.
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


def match_codes(base_codes: np.ndarray, head_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`match` over integer keys, vectorised: the k-th base case with a key pairs with the
    k-th head case with it; pairs in base order."""

    def ranked(codes):
        codes = np.asarray(codes, dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.r_[0, np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1]
        lengths = np.diff(np.r_[starts, len(codes)])
        rank = np.empty(len(codes), dtype=np.int64)
        rank[order] = np.arange(len(codes)) - np.repeat(starts, lengths)
        return codes, rank

    (bc, br), (hc, hr) = ranked(base_codes), ranked(head_codes)
    width = int(max(br.max(initial=0), hr.max(initial=0))) + 1
    _, base_pos, head_pos = np.intersect1d(
        bc * width + br, hc * width + hr, assume_unique=True, return_indices=True
    )
    order = np.argsort(base_pos, kind="stable")
    return base_pos[order].astype(np.int64), head_pos[order].astype(np.int64)


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
    return _compare_matched(
        Columns(base),
        Columns(head),
        np.asarray(base_pos, dtype=np.int64),
        np.asarray(head_pos, dtype=np.int64),
        criteria,
        odd_tags,
        limit,
    )


def compare_stored(
    base: StoredColumns,
    head: StoredColumns,
    criteria: Sequence[CriterionInput],
    *,
    odd_tags: Mapping[str, Iterable[str]],
    limit: int = DEFAULT_LIMIT,
) -> dict:
    """:func:`compare` over two runs' cases as stored (:class:`StoredColumns`, sharing one
    :class:`StoredTexts`), matched by scenario and the parameters' stored text."""
    matched_base, matched_head = match_codes(base.match_codes(), head.match_codes())
    return _compare_matched(base, head, matched_base, matched_head, criteria, odd_tags, limit)


def _compare_matched(base_cols, head_cols, matched_base, matched_head, criteria, odd_tags, limit):
    pair_scen = base_cols.scenarios[matched_base]
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
        "matched": len(matched_base),
        "only_base": len(base_cols) - len(matched_base),
        "only_head": len(head_cols) - len(matched_head),
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

    def case_id(self, i: int) -> str:
        return self.cases[i].case_id

    def params_of(self, i: int) -> Mapping:
        return self.cases[i].params

    def kpis_of(self, i: int) -> Mapping:
        return self.cases[i].kpis

    def scenario_rule(self, rule: Callable) -> np.ndarray:
        """``rule`` of every case's scenario name (one call per distinct name)."""
        codes = self._memo(("codes",), lambda: _plain_codes(self.scenarios))
        return _mapped(self.scenarios, rule, codes)

    def param_rule(self, name: str, rule: Callable) -> np.ndarray:
        """``rule`` of every case's parameter ``name`` (None where it is missing)."""
        codes = self._memo(("codes", name), lambda: _plain_codes(self.param(name)))
        return _mapped(self.param(name), rule, codes)

    def differing(self, other: Columns, mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
        """Positions ``j`` of the pairs ``(mine[j], theirs[j])`` whose KPIs differ."""
        bk = [self.cases[i].kpis for i in mine]
        hk = [other.cases[i].kpis for i in theirs]
        return np.flatnonzero(
            np.fromiter((b is not h and b != h for b, h in zip(bk, hk, strict=True)), bool, len(bk))
        )

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


class StoredTexts:
    """JSON object texts of the cases of one or more runs (their parameters or their KPIs),
    each distinct text decoded once and shared between the runs.

    Columns are read over the distinct texts with pyarrow's JSON reader (one parse, in C++)
    where a field holds plain values (numbers, booleans, text); a field of another kind, or
    texts the reader refuses, are read as :func:`json.loads` reads them. Either way a column
    holds what the case-by-case reading of :class:`Columns` holds (the tests compare them)."""

    _PLAIN = ("int64", "double", "bool", "string", "null")

    def __init__(self, *runs: Sequence[str]):
        import pandas as pd

        joined = np.empty(sum(len(r) for r in runs), dtype=object)
        joined[:] = [t for r in runs for t in r]
        codes, distinct = pd.factorize(joined)
        self.texts: list[str] = list(distinct)
        self.codes: list[np.ndarray] = []
        start = 0
        for r in runs:
            self.codes.append(codes[start : start + len(r)].astype(np.int64))
            start += len(r)
        self._decoded: list = [None] * len(self.texts)
        self._table = None
        self._cache: dict = {}

    def value(self, k: int):
        found = self._decoded[k]
        if found is None:
            found = self._decoded[k] = json.loads(self.texts[k])
        return found

    def _memo(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def table(self):
        """The distinct texts as an Arrow table (a column per key), or None when the reader
        cannot read them all as one object per line."""
        if self._table is None:
            self._table = self._parse() or False
        return self._table or None

    def _parse(self):
        import io

        import pyarrow as pa
        import pyarrow.json as pj

        if not self.texts or any("\n" in t for t in self.texts):
            return None
        data = "\n".join(self.texts).encode()
        try:  # one block: the types are inferred over every text at once
            table = pj.read_json(
                io.BytesIO(data), read_options=pj.ReadOptions(block_size=len(data) + 1)
            )
        except (pa.ArrowException, ValueError, OverflowError):
            return None
        return table if table.num_rows == len(self.texts) else None

    def arrow(self, name: str):
        """``(type name, array over the distinct texts)``; ``("absent", None)`` when no text has
        the key; None when the field is not plain (or the texts were not read)."""
        table = self.table()
        if table is None:
            return None
        if name not in table.schema.names:
            return ("absent", None)
        if table.schema.names.count(name) != 1:
            return None
        column = table.column(name).combine_chunks()
        kind = str(column.type)
        return (kind, column) if kind in self._PLAIN else None

    def floats(self, name: str) -> np.ndarray | None:
        """The field as :func:`_column` reads it (booleans as 0 and 1), over the distinct texts;
        None when the field is not a plain number or boolean."""

        def build():
            found = self.arrow(name)
            if found is None or found[0] == "string":
                return None
            kind, column = found
            if kind in ("absent", "null"):
                return np.full(len(self.texts), math.nan)
            return column.cast("float64").to_numpy(zero_copy_only=False).astype(float)

        return self._memo(("floats", name), build)

    def truthy(self, name: str) -> np.ndarray | None:
        """``bool`` of the field (missing: false) over the distinct texts, or None."""

        def build():
            import pyarrow.compute as pc

            found = self.arrow(name)
            if found is None:
                return None
            kind, column = found
            if kind in ("absent", "null"):
                return np.zeros(len(self.texts), dtype=bool)
            if kind == "bool":
                hit = column
            elif kind == "string":
                hit = pc.greater(pc.binary_length(column), 0)
            else:
                hit = pc.not_equal(column, 0)
            return hit.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)

        return self._memo(("truthy", name), build)

    def raw(self, name: str) -> np.ndarray:
        """The field's values (missing: None) over the distinct texts, as :func:`json.loads`
        gives them."""

        def build():
            found = self.arrow(name)
            if found is not None and found[0] != "double":  # 1 and 1.0 are one double
                column = found[1]
                values = [None] * len(self.texts) if column is None else column.to_pylist()
            else:
                values = [self.value(k).get(name) for k in range(len(self.texts))]
            return np.array(values + [None], dtype=object)[:-1]

        return self._memo(("raw", name), build)

    def numbers(self, name: str) -> np.ndarray:
        """The field as a finite number, NaN where it is none (booleans and text are not
        numbers), over the distinct texts."""

        def build():
            found = self.arrow(name)
            if found is not None and found[0] in ("int64", "double"):
                values = found[1].cast("float64").to_numpy(zero_copy_only=False).astype(float)
            elif found is not None and found[0] in ("absent", "null", "bool", "string"):
                values = np.full(len(self.texts), math.nan)
            else:
                values = np.array(
                    [v if type(v) is float or type(v) is int else math.nan for v in self.raw(name)],
                    dtype=float,
                )
            values[~np.isfinite(values)] = math.nan
            return values

        return self._memo(("numbers", name), build)

    def has(self, name: str) -> np.ndarray:
        """Whether each distinct text has the key."""

        def build():
            found = self.arrow(name)
            if found is not None and found[0] == "absent":
                return np.zeros(len(self.texts), dtype=bool)
            if found is not None and found[0] != "null":
                has = found[1].is_valid().to_numpy(zero_copy_only=False).astype(bool)
            else:
                has = np.zeros(len(self.texts), dtype=bool)
            for k in np.flatnonzero(~has):  # null, or not read: ask the decoded text
                has[k] = name in self.value(int(k))
            return has

        return self._memo(("has", name), build)


class StoredColumns(Columns):
    """The cases of one run as the database stores them (ids, scenarios, and the JSON texts of
    parameters and KPIs), read column by column through :class:`StoredTexts` shared with the
    run compared with it. Build both with :func:`stored_columns`."""

    def __init__(self, case_ids, scenarios, keys, params, kpis, side: int):
        self.case_ids = case_ids
        self.scenarios = scenarios
        self._keys = keys
        self._params, self._kpis = params, kpis
        self._pc, self._kc = params.codes[side], kpis.codes[side]
        self._cache = {}

    def __len__(self) -> int:
        return len(self.case_ids)

    def match_codes(self) -> np.ndarray:
        """One integer per case: equal for equal scenario and parameters' text."""
        return self._keys

    def case_id(self, i: int) -> str:
        return self.case_ids[i]

    def params_of(self, i: int) -> Mapping:
        return self._params.value(int(self._pc[i]))

    def kpis_of(self, i: int) -> Mapping:
        return self._kpis.value(int(self._kc[i]))

    def differing(self, other: Columns, mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
        if not isinstance(other, StoredColumns) or other._kpis is not self._kpis:
            return super().differing(other, mine, theirs)
        # equal texts are equal KPIs; unequal texts are compared as values
        candidates = np.flatnonzero(self._kc[mine] != other._kc[theirs])
        return np.array(
            [j for j in candidates.tolist() if self.kpis_of(mine[j]) != other.kpis_of(theirs[j])],
            dtype=np.int64,
        )

    def param(self, name: str) -> np.ndarray:
        return self._memo(("param", name), lambda: self._params.raw(name)[self._pc])

    def has_param(self, name: str) -> np.ndarray:
        return self._memo(("has", name), lambda: self._params.has(name)[self._pc])

    def param_number(self, name: str) -> np.ndarray:
        return self._memo(("number", name), lambda: self._params.numbers(name)[self._pc])

    def kpi(self, name: str) -> np.ndarray:
        def build():
            values = self._kpis.floats(name)
            if values is None:  # read case by case, exactly as Columns does
                return _column([self.kpis_of(i) for i in range(len(self))], name)
            return values[self._kc]

        return self._memo(("kpi", name), build)

    def kpi_truthy(self, name: str) -> np.ndarray:
        def build():
            values = self._kpis.truthy(name)
            if values is None:
                return np.fromiter(
                    (bool(self.kpis_of(i).get(name)) for i in range(len(self))), bool, len(self)
                )
            return values[self._kc]

        return self._memo(("truthy", name), build)


def stored_columns(*runs: tuple[Sequence[str], Sequence[str], Sequence[str], Sequence[str]]):
    """:class:`StoredColumns` of each run from its cases' ``(case ids, scenarios, parameter
    texts, KPI texts)``, in the run's order; the runs share their decoded texts."""
    import pandas as pd

    params = StoredTexts(*(r[2] for r in runs))
    kpis = StoredTexts(*(r[3] for r in runs))
    scenarios = np.empty(sum(len(r[1]) for r in runs), dtype=object)
    scenarios[:] = [s for r in runs for s in r[1]]
    scenario_codes, _ = pd.factorize(scenarios)
    out, start = [], 0
    for side, (ids, names, _, _) in enumerate(runs):
        codes = scenario_codes[start : start + len(names)].astype(np.int64)
        keys = codes * max(len(params.texts), 1) + params.codes[side]
        out.append(
            StoredColumns(
                list(ids), scenarios[start : start + len(names)], keys, params, kpis, side
            )
        )
        start += len(names)
    return out


def _plain_codes(values: np.ndarray):
    """``(codes, distinct values)`` of ``values`` when every distinct value is plain (text, a
    number, a boolean or None), else None."""
    import pandas as pd

    try:
        codes, distinct = pd.factorize(values, use_na_sentinel=False)
    except TypeError:  # an unhashable value (a list)
        return None
    if len(distinct) and all(type(v) in (str, int, float, bool, type(None)) for v in distinct):
        return codes, distinct
    return None


def _mapped(values: np.ndarray, rule: Callable, codes=None) -> np.ndarray:
    """``rule`` of every value, worked out once per distinct value (``codes``: the values'
    :func:`_plain_codes`, when the caller has them)."""
    found = _plain_codes(values) if codes is None else codes
    if found is not None:
        codes, distinct = found
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
        by_name = cols.scenario_rule(lambda s: s.casefold() in wanted)
        by_kind = cols.param_rule(
            "scenario", lambda k: isinstance(k, str) and k.casefold() in wanted
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
        by_value = cols.param_rule(dim, lambda v, a=allowed: str(v) in a)
        by_tags = cols.scenario_rule(lambda s, a=allowed: bool(a.intersection(odd_tags.get(s, ()))))
        mask &= np.where(cols.has_param(dim), by_value, by_tags)
    return mask


def judged_mask(criterion: CriterionInput, cols: Columns, odd_tags) -> np.ndarray:
    """Which cases the criterion judges: inside its scope, of a scenario speaking to it."""
    speaks = cols.scenario_rule(criterion.speaks)
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
                "base": base.case_id(mb[j]),
                "head": head.case_id(mh[j]),
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
    differ = base.differing(head, mb, mh)
    first = range(min(50, len(mb)))
    names = _numeric_kpis(
        [base.kpis_of(mb[j]) for j in first]
        + [head.kpis_of(mh[j]) for j in first]
        + [base.kpis_of(mb[j]) for j in differ[:50]]
    )
    bk = [base.kpis_of(mb[j]) for j in differ]
    hk = [head.kpis_of(mh[j]) for j in differ]
    deltas, values = {}, {}
    for name in names:
        b = _column(bk, name)
        h = _column(hk, name)
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
                "base": base.case_id(mb[j]),
                "head": head.case_id(mh[j]),
                "scenario": pair_scen[j],
                "params": dict(base.params_of(mb[j])),
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
