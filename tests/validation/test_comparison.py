"""Regression between two system versions: the comparison's arithmetic, and the CI gate
``compare_runs`` over the demo campaign run on two model versions."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evidence.models import LogEntry
from evidence.verification import verify_project
from validation import comparison
from validation.comparison import CriterionInput, compare, fisher_greater, poisson_rates_greater
from validation.verdicts import Case, CriterionSpec


def _exact_fisher(k1, n1, k2, n2) -> Fraction:
    """The hypergeometric upper tail with exact integers: the independent reference."""
    total, failed = n1 + n2, k1 + k2
    tail = sum(
        math.comb(failed, x) * math.comb(total - failed, n2 - x)
        for x in range(k2, min(failed, n2) + 1)
    )
    return Fraction(tail, math.comb(total, n2))


def test_fisher_matches_the_lady_tasting_tea():
    # Fisher's own example: 3 of 4 cups right each way; the one-sided p-value is 17/70.
    assert fisher_greater(1, 4, 3, 4) == pytest.approx(17 / 70, rel=1e-12)


@pytest.mark.parametrize(
    "table", [(0, 10, 5, 10), (2, 3000, 9, 3000), (40, 150_000, 70, 150_000), (5, 20, 1, 30)]
)
def test_fisher_matches_exact_integer_arithmetic(table):
    assert fisher_greater(*table) == pytest.approx(float(_exact_fisher(*table)), rel=1e-9)


def test_fisher_needs_cases_on_both_sides():
    assert fisher_greater(0, 0, 3, 10) is None
    assert fisher_greater(0, 10, 0, 10) == pytest.approx(1.0)


def test_poisson_rates_conditional_test():
    # Equal exposure: the head's events are Binomial(n, 1/2); 5 of 5 -> 1/32.
    assert poisson_rates_greater(0, 100.0, 5, 100.0) == pytest.approx(1 / 32)
    assert poisson_rates_greater(3, 100.0, 0, 100.0) == 1.0
    assert poisson_rates_greater(3, 0.0, 1, 100.0) is None


SPEC = CriterionSpec(
    "AC-X", "cases", 0.95, allowed_probability=0.01, kpi="min_ttc", comparator=">", threshold=1
)


def _case(i, scenario, speed, ttc):
    return Case(f"{scenario}/{i:03d}", scenario, {"ego_speed": speed}, {"min_ttc": ttc})


def _criterion(scope=None, speaks=lambda name: True):
    return CriterionInput(SPEC, scope or {}, speaks)


def test_cases_are_matched_by_scenario_and_parameters_not_by_id():
    base = [_case(i, "A", i, 2.0) for i in range(10)]
    head = [
        Case(f"other-{i}", "A", {"ego_speed": i}, {"min_ttc": 2.0 if i != 3 else 0.5})
        for i in reversed(range(10))
    ]
    head.append(Case("new", "A", {"ego_speed": 99}, {"min_ttc": 2.0}))
    report = compare(base, head, [_criterion()], odd_tags={})
    assert (report["matched"], report["only_base"], report["only_head"]) == (10, 0, 1)
    (entry,) = report["criteria"]
    assert entry["flips"] == {
        "pass_to_pass": 9,
        "pass_to_fail": 1,
        "fail_to_pass": 0,
        "fail_to_fail": 0,
    }
    assert entry["flipped_to_fail"] == [{"base": "A/003", "head": "other-3", "scenario": "A"}]
    assert report["regressed"] and "other-3" in report["regressions"][0]
    (listed,) = [c for c in report["kpis"]["cases"] if c["head"] == "other-3"]
    assert listed["kpis"]["min_ttc"] == {"base": 2.0, "head": 0.5, "delta": -1.5}


def test_only_cases_in_the_criterion_scope_count():
    base = [_case(i, "A", i, 2.0) for i in range(10)] + [_case(i, "B", i, 2.0) for i in range(10)]
    head = [_case(i, "A", i, 2.0) for i in range(10)] + [_case(i, "B", i, 0.1) for i in range(10)]
    scoped = _criterion({"scenarios": ["A"]})
    report = compare(base, head, [scoped], odd_tags={})
    assert not report["regressed"]
    assert report["criteria"][0]["head"] == {"failures": 0, "trials": 10, "rate": 0.0}
    # Outside the scope by a parameter bound, or by a scenario that does not speak to it.
    by_speed = _criterion({"parameters": {"ego_speed": [None, 4]}})
    assert compare(base, head, [by_speed], odd_tags={})["criteria"][0]["head"]["failures"] == 5
    silent = _criterion(speaks=lambda name: name == "A")
    assert not compare(base, head, [silent], odd_tags={})["regressed"]
    # Every criterion about every case sees the ten flips of B.
    everything = compare(base, head, [_criterion()], odd_tags={})
    assert everything["criteria"][0]["flips"]["pass_to_fail"] == 10


def test_a_significant_rise_without_matched_flips_regresses():
    base = [_case(i, "A", i, 2.0 if i % 10 else 0.5) for i in range(200)]
    head = [_case(i, "A", i + 1000, 2.0 if i % 3 else 0.5) for i in range(200)]
    (entry,) = compare(base, head, [_criterion()], odd_tags={})["criteria"]
    assert entry["flips"]["pass_to_fail"] == 0  # nothing matched
    assert entry["significant"] and entry["p_value"] < 0.05
    assert entry["regressed"] and "failure rate rose from 20/200 to 67/200" in entry["reasons"][0]
    # The reverse direction is an improvement, not a regression.
    (back,) = compare(head, base, [_criterion()], odd_tags={})["criteria"]
    assert not back["significant"] and not back["regressed"]


def test_equal_runs_do_not_regress():
    base = [_case(i, "A", i, 2.0 if i % 7 else 0.3) for i in range(50)]
    report = compare(base, list(base), [_criterion()], odd_tags={})
    assert not report["regressed"] and report["regressions"] == []
    assert report["criteria"][0]["p_value"] == pytest.approx(
        float(_exact_fisher(8, 50, 8, 50)), rel=1e-9
    )
    assert report["kpis"]["changed_cases"] == 0


# --- The CI gate over the demo campaign --------------------------------------------------------


def _compare(*options) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("compare_runs", *options, stdout=out, stderr=err)
    except CommandError as exc:
        return 1, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def demo_versions(db, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    """The demo campaign run on model v1, again on v1, and on a v2 that is worse on purpose:
    its detection confirms a stopped car 0.4 s later (by day and at night), so it brakes
    later. Returns the three runs."""
    from django.contrib.auth import get_user_model

    from demo.seed import seed_demo
    from evidence.services import model_register
    from validation import services
    from validation.lake import aeb
    from validation.models import Campaign

    settings.VAR_DIR = tmp_path / "var"
    seed_demo()
    erin = get_user_model().objects.get(username="erin")
    v1 = Campaign.objects.get(project__key="AEB", name="AEB-demo")
    weights = tmp_path / "aeb-detector-v2.bin"
    weights.write_bytes(b"aeb-detector-v2, a smaller and slower network" * 100)
    model = model_register(user=erin, project=v1.project, name="aeb-detector", uri=weights.as_uri())
    v2 = services.campaign_create(
        user=erin,
        project=v1.project,
        name="AEB-demo-v2",
        spaces=list(v1.spaces.all()),
        criteria=list(v1.criteria.all()),
        executor=v1.executor,
        seed=v1.seed,
        shard_size=v1.shard_size,
        dataset=v1.dataset,
        model=model,
        sut_commit="f" * 40,
    )

    def run(campaign):
        with django_capture_on_commit_callbacks(execute=True):
            started = services.run_start(user=erin, campaign=campaign)
        started.refresh_from_db()
        assert started.status == "succeeded", started.error
        return started

    base, again = run(v1), run(v1)
    with monkeypatch.context() as patch:
        patch.setitem(aeb.LIGHTING_DELAY, "day", 0.4)
        patch.setitem(aeb.LIGHTING_DELAY, "night", 0.5)
        worse = run(v2)
    return base, again, worse


def test_compare_runs_gates_on_a_worse_model_version(demo_versions):
    base, again, worse = demo_versions
    entries = LogEntry.objects.filter(project__key="AEB").count()
    code, out, reason = _compare(
        "--project", "AEB", "--base", str(base.pk), "--head", str(worse.pk), "--user", "erin"
    )
    assert code == 1, out
    assert reason.startswith("regression: AC-02: ")
    assert "flipped from pass to fail" in reason
    assert "AC-02: REGRESSED" in out
    flipped = [
        line.split(": ", 1)[1].split(" ")[0]
        for line in out.splitlines()
        if "flipped to fail" in line
    ]
    assert flipped and all(name.startswith(("CCRs/", "CPNA/")) for name in flipped)
    # The comparison is in the ledger, naming both runs' inputs: the models differ.
    assert LogEntry.objects.filter(project__key="AEB").count() == entries + 1
    entry = LogEntry.objects.filter(project__key="AEB").latest("index")
    import base64

    predicate = json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))[
        "predicate"
    ]
    sides = predicate["comparison"]
    assert sides["base"]["inputs"]["model"] != sides["head"]["inputs"]["model"]
    assert sides["head"]["inputs"]["commit"] == "f" * 40
    assert predicate["regressed"] is True
    assert verify_project(base.campaign.project).ok

    code, out, _ = _compare(
        "--project", "AEB", "--base", str(base.pk), "--head", str(worse.pk), "--json"
    )
    report = json.loads(out)
    (ac02,) = [c for c in report["criteria"] if c["criterion"] == "AC-02"]
    assert ac02["regressed"] and ac02["flips"]["pass_to_fail"] == len(ac02["flipped_to_fail"])
    named = {c["head"] for entry in report["criteria"] for c in entry["flipped_to_fail"]}
    assert named == set(flipped)
    # Only cases in each criterion's scope are compared: AC-02 judges CCRs from 20 to 50 km/h.
    results = {r.case_id: r.params for r in worse.results.all()}
    for case in ac02["flipped_to_fail"]:
        assert case["scenario"] == "CCRs" and 20 <= results[case["head"]]["ego_speed"] <= 50
    (ac03,) = [c for c in report["criteria"] if c["criterion"] == "AC-03"]
    assert {c["scenario"] for c in ac03["flipped_to_fail"]} == {"CPNA"}
    # AC-01 (unintended braking per km) sees no more events with a later braking.
    (ac01,) = [c for c in report["criteria"] if c["criterion"] == "AC-01"]
    assert not ac01["regressed"] and ac01["test"] == "poisson-conditional-one-sided"


def test_compare_runs_passes_equal_versions(demo_versions):
    base, again, _ = demo_versions
    code, out, _ = _compare("--project", "AEB", "--base", str(base.pk), "--head", str(again.pk))
    assert code == 0, out
    assert "REGRESSED" not in out and f"{base.cases_total} cases matched" in out
    # Bad input: a clear one-line reason, and nothing recorded.
    code, _, reason = _compare("--project", "AEB", "--base", "999999", "--head", str(again.pk))
    assert code == 1 and reason == "no run 999999 in AEB (--base)"
    code, _, reason = _compare("--project", "AEB", "--base", str(base.pk), "--head", str(base.pk))
    assert code == 1 and "two different runs" in reason
    entries = LogEntry.objects.count()
    code, _, reason = _compare(
        "--project", "AEB", "--base", str(base.pk), "--head", str(again.pk), "--user", "vic"
    )
    assert code == 1 and reason == "The role viewer may not run in AEB."
    assert LogEntry.objects.count() == entries


def test_the_module_names_its_default_limit():
    assert comparison.DEFAULT_LIMIT == 100


# --- Over REST ---------------------------------------------------------------------------------

BASE = "/api/v1/projects/AEB"


@pytest.fixture
def two_runs(project, members, campaign, django_capture_on_commit_callbacks):
    from validation import services

    runs = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            runs.append(services.run_start(user=members["engineer"], campaign=campaign))
    return runs


def test_an_engineer_records_a_comparison_over_the_api(api, members, two_runs):
    base, head = two_runs
    entries = LogEntry.objects.count()
    response = api(members["engineer"]).post(
        f"{BASE}/runs/{head.pk}/compare/", {"base": base.pk, "limit": 5}, format="json"
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["base"], data["head"], data["regressed"]) == (base.pk, head.pk, False)
    assert data["report"]["matched"] == base.cases_total
    assert data["report"]["criteria"][0]["criterion"] == "AC-02"
    assert LogEntry.objects.count() == entries + 1 and data["entry"] == entries
    listed = api(members["viewer"]).get(f"{BASE}/comparisons/").json()
    assert listed["count"] == 1 and listed["results"][0]["sha256"] == data["sha256"]


def test_the_compare_api_refuses_and_records_nothing(
    api, members, outsider, two_runs, other_project, make_member
):
    base, head = two_runs
    url = f"{BASE}/runs/{head.pk}/compare/"
    entries = LogEntry.objects.count()
    assert api().post(url, {"base": base.pk}, format="json").status_code == 401
    assert api(members["viewer"]).post(url, {"base": base.pk}, format="json").status_code == 403
    assert api(outsider).post(url, {"base": base.pk}, format="json").status_code == 404
    engineer = api(members["engineer"])
    response = engineer.post(url, {"base": 999999}, format="json")
    assert response.status_code == 400 and response.json() == {"base": ["No run 999999 in AEB."]}
    assert engineer.post(url, {"base": "1"}, format="json").status_code == 400
    response = engineer.post(url, {"base": head.pk}, format="json")
    assert response.status_code == 400 and "two different runs" in str(response.json())
    head.status = "running"
    head.save(update_fields=["status"])
    response = engineer.post(f"{BASE}/runs/{base.pk}/compare/", {"base": head.pk}, format="json")
    assert response.status_code == 400 and "is running" in str(response.json())
    assert LogEntry.objects.count() == entries


# --- The columns agree with the case-by-case rules ---------------------------------------------


def _random_cases(n: int, seed: int) -> list[Case]:
    import random

    rng = random.Random(seed)
    cases = []
    for i in range(n):
        params = {"scenario": rng.choice(["ccrs", "CCRS", "cpna", 3, None])}
        for name in ("ego_speed", "initial_gap"):
            params[name] = rng.choice([rng.uniform(0, 80), rng.randint(0, 80), True, "40", None])
            if rng.random() < 0.2:
                del params[name]
        if rng.random() < 0.7:
            params["surface"] = rng.choice(["dry", "wet", "ice", None, ["dry"]])
        kpis = {
            "min_ttc": rng.choice([rng.uniform(0, 3), "inf", None, float("nan"), 1.0]),
            "collision": rng.random() < 0.1,
            "impact_speed_kmh": rng.choice([0.0, rng.uniform(0, 30), None]),
            "events": rng.choice([0, 0, 1]),
        }
        if rng.random() < 0.1:
            del kpis["min_ttc"]
        cases.append(Case(f"c{i}", rng.choice(["CCRs", "CPNA", "Other"]), params, kpis))
    return cases


SCOPES = [
    {},
    {"scenarios": ["CCRs"]},
    {"scenarios": ["ccrs", "Nothing"], "parameters": {"ego_speed": [20, 50]}},
    {"parameters": {"ego_speed": [None, 40], "initial_gap": [10.5, None]}},
    {"odd": {"surface": ["dry", "wet"]}},
    {"scenarios": ["CPNA"], "odd": {"surface": ["wet"]}, "parameters": {"ego_speed": [0, 60]}},
]
TAGS = {"CCRs": ["dry", "urban"], "CPNA": ["wet"], "Other": []}


@pytest.mark.parametrize("scope", SCOPES)
def test_the_scope_over_columns_is_the_scope_case_by_case(scope):
    from compliance import scope as criterion_scope

    cases = _random_cases(600, seed=len(str(scope)))
    mask = comparison.scope_mask(scope, comparison.Columns(cases), TAGS)
    expected = [
        criterion_scope.contains(
            scope, scenario=c.scenario, params=c.params, odd_tags=TAGS.get(c.scenario, ())
        )
        for c in cases
    ]
    assert mask.tolist() == expected


@pytest.mark.parametrize(
    "spec",
    [
        SPEC,
        CriterionSpec(
            "I", "cases", 0.9, 0.01, kpi="impact_speed_kmh", comparator="<", threshold=10
        ),
        CriterionSpec("N", "cases", 0.9, 0.01),
        CriterionSpec("E", "km", 0.9, allowed_rate=1e-6),
    ],
)
def test_failures_over_columns_are_the_verdicts_failures(spec):
    from validation.verdicts import _fails

    cases = _random_cases(600, seed=5)
    mask = comparison.fail_mask(spec, comparison.Columns(cases))
    assert mask.tolist() == [_fails(spec, c.kpis) for c in cases]
