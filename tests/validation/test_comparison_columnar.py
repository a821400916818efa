"""The comparison read column by column from the stored texts gives the answer of the
case-by-case reading and of a plain reference computation, on randomized pairs of runs."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from compliance import scope as criterion_scope
from validation import comparison
from validation.comparison import (
    CriterionInput,
    compare,
    compare_stored,
    fisher_greater,
    poisson_rates_greater,
    stored_columns,
)
from validation.verdicts import Case, CriterionSpec, _fails

TAGS = {"CCRs": ["dry", "urban"], "CPNA": ["wet"], "Other": []}
SPECS = [
    CriterionSpec("AC-T", "cases", 0.95, 0.01, kpi="min_ttc", comparator=">", threshold=1.0),
    CriterionSpec("AC-I", "cases", 0.9, 0.01, kpi="impact_speed_kmh", comparator="<", threshold=10),
    CriterionSpec("AC-C", "cases", 0.9, 0.05),
    CriterionSpec("AC-E", "km", 0.95, allowed_rate=1e-3),
]
SCOPES = [
    {},
    {"scenarios": ["CCRs"], "parameters": {"ego_speed": [20, 50]}},
    {"scenarios": ["ccrs", "CPNA"], "odd": {"surface": ["dry", "wet"]}},
    {"parameters": {"ego_speed": [None, 40], "initial_gap": [10.5, None]}},
]


def _criteria() -> list[CriterionInput]:
    speaks = [lambda n: True, lambda n: n != "Other", lambda n: n == "CCRs", lambda n: True]
    return [
        CriterionInput(spec, scope, speak)
        for spec, scope, speak in zip(SPECS, SCOPES, speaks, strict=True)
    ]


def _plain_kpis(rng) -> dict:
    gap = rng.uniform(-1, 10)
    return {
        "min_ttc": rng.choice([rng.uniform(0, 3), rng.uniform(0, 3), 2, None]),
        "min_distance": round(gap, 3),
        "collision": gap <= 0,
        "impact_speed_kmh": rng.uniform(0, 30) if gap <= 0 else 0.0,
        "events": int(rng.random() < 0.05),
        "distance_km": 0.12,
    }


def _odd_kpis(rng) -> dict:
    """Values the JSON reader cannot take as plain columns: NaN, "inf", lists, mixed types."""
    kpis = _plain_kpis(rng)
    kpis["min_ttc"] = rng.choice([kpis["min_ttc"], "inf", float("nan"), [1], "1.5", True])
    kpis["collision"] = rng.choice([kpis["collision"], 1, "", "yes"])
    return kpis


def _params(rng, odd: bool) -> dict:
    params = {
        "scenario": rng.choice(["ccrs", "CCRS", "cpna", "cut-in"]),
        "ego_speed": rng.choice([10, 20, 30.5, 40, 50.0, 60]),
        "initial_gap": rng.choice([10, 12.5, 20]),
        "surface": rng.choice(["dry", "wet", "ice"]),
    }
    if rng.random() < 0.2:
        del params["surface"]
    if odd:
        params["ego_speed"] = rng.choice([params["ego_speed"], True, "40", None, [1, 2]])
        params["surface"] = rng.choice(["dry", None, ["dry"], 3])
    return params


def _run_pair(seed: int, n: int, *, odd: bool = False) -> tuple[list[Case], list[Case]]:
    """Two runs over a small grid of parameters (so equal parameters repeat and match in
    order): the head drops some cases, adds some, changes some KPIs, and stores some equal
    KPIs in another key order."""
    rng = random.Random(seed)
    kpis = _odd_kpis if odd else _plain_kpis
    base, head = [], []
    for i in range(n):
        scenario = rng.choice(["CCRs", "CPNA", "Other"])
        params = _params(rng, odd)
        mine = kpis(rng)
        base.append(Case(f"b{i:05d}", scenario, params, mine))
        roll = rng.random()
        if roll < 0.05:
            continue  # only in the base
        if roll < 0.25:
            theirs = kpis(rng)
        elif roll < 0.35:
            theirs = dict(reversed(list(mine.items())))  # equal, stored as another text
        else:
            theirs = mine
        head.append(Case(f"h{i:05d}", scenario, dict(params), theirs))
    for i in range(n // 20):
        head.append(Case(f"new{i:04d}", rng.choice(["CCRs", "CPNA"]), _params(rng, odd), kpis(rng)))
    rng.shuffle(head)
    return base, head


def _stored(cases: list[Case]) -> tuple[list, list, list, list]:
    """A run's cases as the database stores them: JSON texts (Django writes ``json.dumps``)."""
    return (
        [c.case_id for c in cases],
        [c.scenario for c in cases],
        [json.dumps(c.params) for c in cases],
        [json.dumps(c.kpis) for c in cases],
    )


def _text_keys(cases):
    return [(c.scenario, json.dumps(c.params)) for c in cases]


@pytest.mark.parametrize(("seed", "odd"), [(1, False), (2, False), (3, True), (4, True)])
def test_the_stored_columns_give_the_case_by_case_comparison(seed, odd):
    base, head = _run_pair(seed, 1500, odd=odd)
    expected = compare(
        base, head, _criteria(), odd_tags=TAGS, keys=(_text_keys(base), _text_keys(head))
    )
    cols = stored_columns(_stored(base), _stored(head))
    got = compare_stored(*cols, _criteria(), odd_tags=TAGS)
    # plain runs are read by the JSON reader; the odd ones fall back to reading text by text
    assert (cols[0]._kpis.table() is None) == odd
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    # the pair is not trivial: flips, changed KPIs and unmatched cases on both sides
    assert got["kpis"]["changed_cases"] > 100
    assert got["only_base"] > 0 and got["only_head"] > 0
    assert sum(c["flips"]["pass_to_fail"] for c in got["criteria"]) > 0


def _reference(base: list[Case], head: list[Case], criteria, limit: int = 100) -> dict:
    """The comparison computed the plain way: cases paired in order by a dict of queues, each
    case judged and failed by the verdict's own rules, one at a time."""
    waiting: dict = {}
    for j, c in enumerate(head):
        waiting.setdefault((c.scenario, json.dumps(c.params)), []).append(j)
    pairs = []
    for i, c in enumerate(base):
        queue = waiting.get((c.scenario, json.dumps(c.params)))
        if queue:
            pairs.append((i, queue.pop(0)))
    out = {"matched": len(pairs), "only_base": len(base) - len(pairs)}
    out["only_head"] = len(head) - len(pairs)
    out["criteria"] = []
    for crit in criteria:

        def judged(c, crit=crit):
            return crit.speaks(c.scenario) and criterion_scope.contains(
                crit.scope, scenario=c.scenario, params=c.params, odd_tags=TAGS.get(c.scenario, ())
            )

        sides = []
        for cases in (base, head):
            seen = [c for c in cases if judged(c)]
            failed = sum(_fails(crit.spec, c.kpis) for c in seen)
            exposure = sum(float(c.kpis.get("distance_km") or 0) for c in seen)
            sides.append((failed, len(seen), exposure))
        (k1, n1, t1), (k2, n2, t2) = sides
        if crit.spec.unit == "cases":
            p = fisher_greater(k1, n1, k2, n2)
        else:
            p = poisson_rates_greater(k1, t1, k2, t2)
        flips = {"pass_to_pass": 0, "pass_to_fail": 0, "fail_to_pass": 0, "fail_to_fail": 0}
        to_fail = []
        for i, j in pairs:
            if not (judged(base[i]) and judged(head[j])):
                continue
            before, after = _fails(crit.spec, base[i].kpis), _fails(crit.spec, head[j].kpis)
            cell = f"{'fail' if before else 'pass'}_to_{'fail' if after else 'pass'}"
            flips[cell] += 1
            if cell == "pass_to_fail":
                to_fail.append(head[j].case_id)
        out["criteria"].append(
            {"counts": (k1, n1, k2, n2), "p": p, "flips": flips, "to_fail": to_fail[:limit]}
        )
    return out


@pytest.mark.parametrize("seed", [5, 6])
def test_the_stored_columns_give_the_plain_reference(seed):
    base, head = _run_pair(seed, 1200)
    got = compare_stored(*stored_columns(_stored(base), _stored(head)), _criteria(), odd_tags=TAGS)
    expected = _reference(base, head, _criteria())
    assert (got["matched"], got["only_base"], got["only_head"]) == (
        expected["matched"],
        expected["only_base"],
        expected["only_head"],
    )
    for mine, theirs in zip(got["criteria"], expected["criteria"], strict=True):
        counts = (
            mine["base"]["failures"],
            mine["base"]["trials"],
            mine["head"]["failures"],
            mine["head"]["trials"],
        )
        assert counts == theirs["counts"]
        assert mine["p_value"] == pytest.approx(theirs["p"], rel=1e-12)
        assert mine["flips"] == theirs["flips"]
        assert [c["head"] for c in mine["flipped_to_fail"]] == theirs["to_fail"]


def test_matching_integer_keys_pairs_as_the_queue_does():
    rng = np.random.default_rng(7)
    for size in (0, 1, 50, 3000):
        base = rng.integers(0, max(size // 4, 1), size)
        head = rng.integers(0, max(size // 4, 1), size + 13)
        b, h = comparison.match_codes(base, head)
        expected_b, expected_h = comparison.match(base.tolist(), head.tolist())
        assert b.tolist() == expected_b and h.tolist() == expected_h


def test_texts_the_json_reader_refuses_are_read_one_by_one():
    cases = [
        Case("a", "CCRs", {"ego_speed": 30}, {"min_ttc": float("nan"), "collision": False}),
        Case("b", "CCRs", {"ego_speed": 31.5}, {"min_ttc": 2.0, "collision": True}),
        Case("c", "CCRs", {}, {"min_ttc": "inf"}),
    ]
    (cols,) = stored_columns(_stored(cases))
    reference = comparison.Columns(cases)
    assert cols._kpis.table() is None  # NaN is not JSON the reader takes
    for name in ("min_ttc", "collision", "absent"):
        assert np.array_equal(cols.kpi(name), reference.kpi(name), equal_nan=True)
        assert cols.kpi_truthy(name).tolist() == reference.kpi_truthy(name).tolist()
    assert cols._params.table() is not None
    assert np.array_equal(
        cols.param_number("ego_speed"), reference.param_number("ego_speed"), equal_nan=True
    )
    assert cols.param("ego_speed").tolist() == [30, 31.5, None]
    assert type(cols.param("ego_speed")[0]) is int  # 30 stays an integer beside 31.5
    assert cols.has_param("ego_speed").tolist() == [True, True, False]


# --- Over the database ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_stored_report_equals_the_case_by_case_report(project, members, campaign):
    """Two runs written to the database (SQLite or PostgreSQL): the report the command records
    is the comparison of the cases read one by one."""
    from validation import selectors
    from validation.models import CaseResult, Run, RunStatus

    base_cases, head_cases = _run_pair(9, 800)
    runs = []
    for cases in (base_cases, head_cases):
        run = Run.objects.create(
            campaign=campaign,
            status=RunStatus.SUCCEEDED,
            executor="local",
            cases_total=len(cases),
            started_by=members["engineer"],
        )
        CaseResult.objects.bulk_create(
            CaseResult(
                run=run,
                shard=0,
                case_id=c.case_id,
                scenario=c.scenario,
                params=c.params,
                kpis=c.kpis,
            )
            for c in cases
        )
        runs.append(run)
    base, head = runs
    got = selectors.comparison_report(project=project, base=base, head=head)
    decoded: dict = {}
    b, b_keys = selectors.run_cases(run=base, decoded=decoded)
    h, h_keys = selectors.run_cases(run=head, decoded=decoded)
    odd = dict(selectors.Scenario.objects.filter(project=project).values_list("name", "odd_tags"))
    expected = compare(
        b,
        h,
        selectors.comparison_criteria(project=project, base=base, head=head),
        odd_tags=odd,
        keys=(b_keys, h_keys),
    )
    got = {k: v for k, v in got.items() if k not in ("base", "head")}
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert got["matched"] > 500 and got["kpis"]["changed_cases"] > 100
