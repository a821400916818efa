"""The coverage recorded with each verdict: measured over the cases the criterion judged with
the campaign's plan, committed to by the run's ledger entry, caught by ``verify_ledger`` when
edited in the database afterwards, and served by the API."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from evidence.verification import statement_of, verify_project
from tests.owner import owner_cursor
from validation import coverage, services
from validation.models import Scenario, Verdict

PLAN = {
    "bins": 3,
    "goal": 1,
    "parameters": {"ego_speed": {"bins": 4, "range": [10, 50]}, "initial_gap": {}},
    "odd": {"lighting": ["day", "night"]},
}


@pytest.fixture
def planned(project, campaign, criterion):
    """The conftest's campaign (12 CCRs cases) under ``PLAN``, its scenario tagged for daytime,
    its criterion scoped to ego speeds 20 to 40."""
    Scenario.objects.filter(project=project, name="ccrs").update(odd_tags=["day", "dry"])
    criterion.scope = {"parameters": {"ego_speed": [20, 40]}}
    criterion.save(update_fields=["scope"])
    campaign.coverage_plan = coverage.clean_plan(PLAN)
    campaign.save(update_fields=["coverage_plan"])
    return campaign


def _run(members, campaign, capture):
    with capture(execute=True):
        return services.run_start(user=members["engineer"], campaign=campaign)


def test_a_verdict_records_the_coverage_of_its_scope_under_the_campaigns_plan(
    project, members, planned, django_capture_on_commit_callbacks
):
    run = _run(members, planned, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    verdict = Verdict.objects.get(run=run)
    cov = verdict.coverage
    # Only the 9 cases of ego speeds 20..40 are judged (12 cases in the run).
    assert cov["cases"] == verdict.trials == 9
    by_name = {p["parameter"]: p for p in cov["parameters"]}
    speed = by_name["ego_speed"]
    assert [b["bin"] for b in speed["bins"]] == ["10–20", "20–30", "30–40", "40–50"]
    assert [b["hits"] for b in speed["bins"]] == [0, 3, 3, 3]  # 20 is in the second bin
    assert speed["holes"] == ["10–20"] and not speed["met"]
    assert len(by_name["initial_gap"]["bins"]) == 3  # the plan's default bins
    lighting = by_name["lighting"]
    assert lighting["kind"] == "odd" and lighting["holes"] == ["night"]
    assert [b["hits"] for b in lighting["bins"]] == [9, 0]
    assert (cov["bins_total"], cov["bins_hit"], cov["holes"]) == (9, 7, 2)
    assert cov["met"] is False and cov["plan"] == coverage.clean_plan(PLAN)

    stated = statement_of(bytes(run.entry.envelope))["predicate"]["verdicts"][0]
    assert stated["coverage"] == {
        "sha256": coverage.digest(cov),
        "bins": 9,
        "hit": 7,
        "holes": 2,
        "met": False,
    }
    assert verify_project(project).ok


def test_a_bad_coverage_plan_is_refused_and_creates_nothing(project, members, criterion):
    with pytest.raises(ValidationError, match="Coverage plan: goal: give a whole number"):
        services.campaign_create(
            user=members["engineer"],
            project=project,
            name="Bad",
            spaces=[],
            criteria=[criterion],
            coverage_plan={"goal": 0},
        )
    for bad, message in [
        ({"holes": 1}, "holes: not a key"),
        ({"parameters": {"v": {"range": [5, 1]}}}, "parameters.v.range"),
        ({"odd": {"surface": []}}, "odd.surface: give a list"),
        ({"parameters": {"v": {"values": ["a"], "bins": 2}}}, "values cannot go with"),
        ([1], "JSON object"),
    ]:
        with pytest.raises(coverage.CoverageError, match=message):
            coverage.clean_plan(bad)
    assert not project.campaigns.filter(name="Bad").exists()
    made = services.campaign_create(
        user=members["engineer"],
        project=project,
        name="Good",
        spaces=[],
        criteria=[criterion],
        coverage_plan={"odd": {"surface": ["wet", "dry", "wet"]}},
    )
    assert made.coverage_plan == {
        "bins": 5,
        "goal": 1,
        "parameters": {},
        "odd": {"surface": ["dry", "wet"]},
    }


def test_a_planned_parameter_no_case_has_is_listed_unmet():
    plan = coverage.clean_plan({"parameters": {"target_speed": {}}})
    record = coverage.measure([], plan, {})
    (only,) = record["parameters"]
    assert only["parameter"] == "target_speed" and only["bins"] == [] and not only["met"]
    assert record["met"] is False and record["bins_total"] == 0


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_catches_a_coverage_edited_in_the_database(
    ledger_transactional_db, project, members, planned, django_capture_on_commit_callbacks
):
    run = _run(members, planned, django_capture_on_commit_callbacks)
    verdict = Verdict.objects.get(run=run)
    assert verify_project(project).ok
    filled = dict(verdict.coverage, holes=0, bins_hit=verdict.coverage["bins_total"], met=True)
    table = connection.ops.quote_name(Verdict._meta.db_table)

    with owner_cursor(lift_triggers=False) as cursor:
        cursor.execute(
            f"UPDATE {table} SET coverage = %s WHERE id = %s",  # noqa: S608
            [json.dumps(filled), verdict.pk],
        )
    assert Verdict.objects.get(pk=verdict.pk).coverage["met"] is True  # the attack landed
    result = verify_project(project)
    assert not result.ok
    problems = "\n".join(result.problems)
    assert f"run {run.pk}: its verdict on AC-02 disagrees with ledger entry" in problems
    assert "on coverage: the row was changed after it was recorded" in problems


def test_the_api_serves_a_verdicts_coverage(
    api, project, members, planned, django_capture_on_commit_callbacks
):
    run = _run(members, planned, django_capture_on_commit_callbacks)
    body = api(members["viewer"]).get(f"/api/v1/projects/AEB/runs/{run.pk}/").json()
    (verdict,) = body["verdicts"]
    assert verdict["coverage"]["bins_total"] == 9 and verdict["coverage"]["holes"] == 2


def test_a_parameter_of_one_value_is_one_bin_not_holes():
    axis = coverage.numeric_axis("target_speed", 0, 0, 5)
    assert axis.labels == ["0"]
    result = coverage.coverage(axis, np.array([0, 0.0, 1, None], dtype=object))
    assert [b["hits"] for b in result["bins"]] == [2] and result["outside"] == 2
    assert result["holes"] == []
