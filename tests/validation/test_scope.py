"""A run judges each criterion only on the cases inside its scope, and says so in the ledger."""

import base64
import hashlib
import json

import pytest

from compliance import services as compliance
from compliance.models import Verification
from evidence.verification import verify_project
from evidence.verify import canonical_json
from validation import selectors, services
from validation.models import CaseResult, Verdict
from validation.verdicts import CriterionSpec, case_fails

pytestmark = pytest.mark.django_db
AC02_SCOPE = {"scenarios": ["CCRs"], "parameters": {"ego_speed": [20, 50]}}


def statement(entry):
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))["predicate"]


def fails(kpis):
    return bool(kpis["collision"] or kpis["min_ttc"] is None or kpis["min_ttc"] <= 1.0)


@pytest.fixture
def scoped_campaign(project, members, criterion):
    """AC-02 scoped to CCRs at 20-50 km/h, in a campaign of stopped targets from 10 to 60 km/h
    on dry and wet roads and of braking targets, both linked to its requirement."""
    engineer = members["engineer"]
    compliance.acceptance_criterion_save(
        user=engineer, project=project, criterion=criterion, scope=AC02_SCOPE
    )
    spaces = []
    for name, fixed, ranges in (
        (
            "CCRs",
            {"scenario": "ccrs"},
            {
                "ego_speed": [10, 60, 10],
                "initial_gap": [20, 40, 20],
                "surface": {"values": ["dry", "wet"]},
            },
        ),
        (
            "CCRb",
            {"scenario": "ccrb", "target_decel": 6.0},
            {"ego_speed": [30, 50, 10], "initial_gap": [12, 14, 2]},
        ),
    ):
        scenario = services.scenario_define(
            user=engineer,
            project=project,
            name=name,
            parameters=[{"name": "ego_speed"}],
            odd_tags=["dry", "wet"],
            requirements=[criterion.requirement],
        )
        spaces.append(
            services.space_create(
                user=engineer,
                project=project,
                scenario=scenario,
                name="grid",
                ranges=ranges,
                method="grid",
                n=100,
                fixed=fixed,
            )
        )
    nowhere = compliance.acceptance_criterion_save(
        user=engineer,
        project=project,
        code="AC-03",
        requirement=criterion.requirement,
        unit="cases",
        allowed_failure_probability=1e-2,
        confidence=0.9,
        kpi="impact_speed_kmh",
        comparator="<",
        threshold=10.0,
        description="crossing pedestrian",
        scope={"scenarios": ["CPNA"], "parameters": {"ego_speed": [None, 40]}},
    )
    return services.campaign_create(
        user=engineer,
        project=project,
        name="scoped",
        spaces=spaces,
        criteria=[criterion, nowhere],
        shard_size=50,
    )


def test_a_case_outside_the_scope_is_never_counted(
    project, members, scoped_campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=scoped_campaign)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    rows = list(
        CaseResult.objects.filter(run=run).values_list("case_id", "scenario", "params", "kpis")
    )
    inside = [r for r in rows if r[1] == "CCRs" and 20 <= r[2]["ego_speed"] <= 50]
    outside = [r for r in rows if r not in inside]
    # the test can fail: cases outside the scope fail too, and would change the count
    assert any(fails(r[3]) for r in outside) and len(inside) == 16
    verdict = Verdict.objects.get(run=run, criterion__code="AC-02")
    assert verdict.trials == len(inside)
    assert verdict.failures == sum(fails(r[3]) for r in inside)
    assert (verdict.cases_in_scope, verdict.cases_out_of_scope) == (len(inside), len(outside))
    ids = sorted(r[0] for r in inside)
    digest = hashlib.sha256(canonical_json(ids)).hexdigest()
    assert verdict.judged_sha256 == digest and verdict.scope == AC02_SCOPE

    stated = {v["criterion"]: v for v in statement(run.entry)["verdicts"]}
    assert stated["AC-02"]["scope"] == AC02_SCOPE
    assert stated["AC-02"]["judged_cases"] == {"count": len(inside), "sha256": digest}
    assert stated["AC-02"]["cases_in_scope"] == len(inside)
    assert stated["AC-02"]["cases_out_of_scope"] == len(outside)
    assert verify_project(project).ok

    breakdown = selectors.criterion_scenario_breakdown(verdict=verdict)
    assert [(r["scenario"], r["in_scope"], r["judged"]) for r in breakdown] == [
        ("CCRs", len(inside), len(inside))
    ]
    assert breakdown[0]["failing"] == verdict.failures
    every = selectors.criterion_scenario_breakdown(verdict=verdict, with_empty=True)
    assert {r["scenario"]: r["cases"] for r in every} == {"CCRb": 6, "CCRs": 24}


def test_the_api_says_what_a_verdict_was_judged_on(
    api, members, scoped_campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=scoped_campaign)
    data = api(members["viewer"]).get(f"/api/v1/projects/AEB/runs/{run.pk}/").json()
    stated = {v["criterion"]: v for v in data["verdicts"]}
    verdict = Verdict.objects.get(run=run, criterion__code="AC-02")
    assert stated["AC-02"]["scope"] == AC02_SCOPE
    assert stated["AC-02"]["judged_sha256"] == verdict.judged_sha256
    assert (stated["AC-02"]["cases_in_scope"], stated["AC-02"]["cases_out_of_scope"]) == (16, 14)
    assert stated["AC-02"]["scenarios"] == verdict.scenarios
    assert stated["AC-03"]["verdict"] == "not_judged"


def test_a_criterion_with_no_case_in_scope_is_not_judged(
    project, members, scoped_campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=scoped_campaign)
    verdict = Verdict.objects.get(run=run, criterion__code="AC-03")
    assert verdict.verdict == "not_judged" != "pass"
    assert (verdict.trials, verdict.cases_in_scope, verdict.cases_out_of_scope) == (0, 0, 30)
    assert selectors.criterion_scenario_breakdown(verdict=verdict) == []
    stated = {
        v["criterion"]: v
        for v in statement(Verdict.objects.get(pk=verdict.pk).run.entry)["verdicts"]
    }
    assert stated["AC-03"]["verdict"] == "not_judged"
    assert stated["AC-03"]["judged_cases"]["count"] == 0
    assert Verification.objects.filter(result="inconclusive", summary__contains="not judged")


def test_an_impact_speed_criterion_judges_a_collision_by_its_speed():
    spec = CriterionSpec(
        code="AC-03",
        unit="cases",
        confidence=0.9,
        kpi="impact_speed_kmh",
        comparator="<",
        threshold=10.0,
    )
    assert not case_fails(spec, {"collision": True, "impact_speed_kmh": 6.0})
    assert case_fails(spec, {"collision": True, "impact_speed_kmh": 12.0})
    assert not case_fails(spec, {"collision": False, "impact_speed_kmh": 0.0})
