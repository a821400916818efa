"""Failure search: the seeded TPE search finds the demo's CCRs failure boundary, a search never
counts toward a verdict, found failures are promoted to regression cases, and roles are kept."""

from __future__ import annotations

import base64
import hashlib
import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.http import Http404

from evidence.models import EntryKind, LogEntry
from evidence.verify import canonical_json
from validation import search
from validation.execution.local import compute
from validation.verdicts import CriterionSpec, case_fails

#: AC-02 of the demo: stopped vehicle from 20 to 50 km/h, minimum TTC above 1.0 s.
AC02 = CriterionSpec(
    code="AC-02",
    unit="cases",
    confidence=0.95,
    allowed_probability=1e-3,
    kpi="min_ttc",
    comparator=">",
    threshold=1.0,
)
#: The demo's CCRs space (demo.validation.SCENARIOS) inside AC-02's scope.
CCRS_FIXED = {"scenario": "ccrs", "target_speed": 0}
CCRS_RANGES = {
    "ego_speed": [20, 50],
    "initial_gap": [20, 60],
    "surface": {"values": ["dry", "wet"]},
    "lighting": {"values": ["day", "night"]},
}


def _search(sampler="tpe", seed=0, budget=200):
    return search.search(
        AC02, "CCRs", CCRS_RANGES, budget=budget, seed=seed, fixed=CCRS_FIXED, sampler=sampler
    )


@pytest.fixture(scope="module")
def tpe():
    return _search()


def test_tpe_finds_the_ccrs_failure_boundary_within_200_evaluations(tpe):
    assert len(tpe.evaluations) == 200
    assert tpe.first_failure() is not None and tpe.first_failure() <= 200
    assert tpe.first_on_boundary() is not None and tpe.first_on_boundary() <= 200
    boundary = tpe.boundary()
    assert boundary["within_tolerance"] >= 1
    assert abs(boundary["cases"][0]["margin"]) <= search.BOUNDARY_TOLERANCE
    # The function brakes in time at low speed: every failure is a fast approach, and the
    # search saw passing cases below where the failing ones begin.
    speeds = boundary["parameters"]["ego_speed"]
    assert speeds["failing"][0] > 35
    assert speeds["passing"][0] < speeds["failing"][0]
    worst = tpe.worst(3)
    assert worst[0].margin < 0 and worst[0].failing
    assert [w.margin for w in worst] == sorted(w.margin for w in worst)


def test_tpe_finds_more_failures_than_random_search_on_the_same_budget(tpe):
    random = _search("random")
    assert len(random.evaluations) == 200
    assert len(tpe.failures) > len(random.failures)
    assert tpe.worst(1)[0].margin < random.worst(1)[0].margin


def test_the_search_is_seeded(tpe):
    again = _search(budget=30)
    assert [e.params for e in again.evaluations] == [e.params for e in tpe.evaluations[:30]]
    other = _search(seed=5, budget=30)
    assert [e.params for e in other.evaluations] != [e.params for e in again.evaluations]


def test_the_margin_is_negative_exactly_when_the_verdict_would_fail_the_case(tpe):
    for e in tpe.evaluations:
        assert e.failing == case_fails(AC02, e.kpis)
        assert e.failing == (e.margin <= 0 if AC02.comparator == ">" else e.margin < 0)
        assert all(e.params[k] == v for k, v in CCRS_FIXED.items())
        assert 20 <= e.params["ego_speed"] <= 50


def test_a_collision_ranks_below_any_near_miss():
    crash = {"collision": True, "impact_speed": 3.0, "min_ttc": 0.9}
    assert search.margin(AC02, crash) == -4.0
    assert search.margin(AC02, {"min_ttc": 0.1}) == pytest.approx(-0.9)
    assert search.margin(AC02, {}) == -1.0


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({}, "at least one"),
        ({"ego_speed": [50, 20]}, "low must not exceed high"),
        ({"ego_speed": [20, 50, 0]}, "step must be positive"),
        ({"ego_speed": "fast"}, "use [low, high]"),
    ],
)
def test_bad_ranges_are_refused(ranges, message):
    with pytest.raises(search.SearchError, match=message.replace("[", r"\[")):
        search.search(AC02, "CCRs", ranges, budget=5)


def test_ranges_are_narrowed_to_the_criterion_scope():
    scope = {"scenarios": ["CCRs"], "parameters": {"ego_speed": [20, 50]}}
    assert search.clip_to_scope({"ego_speed": [10, 50, 5], "gap": [1, 2]}, scope) == {
        "ego_speed": [20, 50, 5],
        "gap": [1, 2],
    }
    with pytest.raises(search.SearchError, match="outside the criterion's scope"):
        search.clip_to_scope({"ego_speed": [60, 80]}, scope)


def test_a_rate_criterion_cannot_be_searched():
    rate = CriterionSpec(code="AC-01", unit="km", confidence=0.95, allowed_rate=1e-6)
    with pytest.raises(search.SearchError, match="case by case"):
        search.search(rate, "CCRs", CCRS_RANGES, budget=5)


# --- The service, on the demo project ----------------------------------------------------------


@pytest.fixture
def demo(db, settings, tmp_path):
    from django.contrib.auth import get_user_model

    from demo.seed import seed_demo
    from validation.models import Campaign

    settings.VAR_DIR = tmp_path / "var"
    seed_demo()
    users = get_user_model().objects.in_bulk(["erin", "vic"], field_name="username")
    campaign = Campaign.objects.get(project__key="AEB", name="AEB-demo")
    return campaign, users["erin"], users["vic"]


def _predicate(entry) -> dict:
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))["predicate"]


def _run_search(options=()):
    out = StringIO()
    call_command(
        "failure_search",
        "--project",
        "AEB",
        "--campaign",
        "AEB-demo",
        "--criterion",
        "AC-02",
        "--scenario",
        "CCRs",
        "--budget",
        "60",
        "--seed",
        "0",
        "--user",
        "erin",
        *options,
        stdout=out,
    )
    return out.getvalue()


def test_a_search_is_recorded_with_its_failures_and_never_counts_toward_a_verdict(
    demo, django_capture_on_commit_callbacks
):
    from validation import services
    from validation.models import CaseResult, FailureSearch, Run, Verdict

    campaign, erin, _ = demo
    report = json.loads(_run_search(["--json"]))
    found = FailureSearch.objects.get(pk=report["search"])
    assert found.kind == "search" and report["evaluated"] == 60
    assert found.failures == report["failing"] > 0
    # Searched inside AC-02's scope, with the space's fixed parameters.
    assert found.ranges["ego_speed"][:2] == [20, 50]
    assert found.fixed["scenario"] == "ccrs" and found.fixed["target_speed"] == 0
    entry = LogEntry.objects.get(pk=found.entry_id)
    assert entry.kind == EntryKind.VALIDATION_RESULT and entry.index == report["ledger_entry"]
    stated = _predicate(entry)
    assert stated["kind"] == "search" and stated["countsTowardVerdict"] is False
    failing_ids = [e["case_id"] for e in found.evaluations if e["failing"]]
    assert failing_ids and [f["case_id"] for f in stated["failures"]] == failing_ids
    # The search made no run, no result and no verdict.
    assert not Run.objects.exists() and not CaseResult.objects.exists()
    assert not Verdict.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=erin, campaign=campaign)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    verdict = Verdict.objects.get(run=run, criterion__code="AC-02")
    judged = sorted(
        c["case_id"]
        for c in services.campaign_cases(campaign)
        if c["scenario"] == "CCRs" and 20 <= c["params"]["ego_speed"] <= 50
    )
    assert verdict.trials == len(judged)
    assert verdict.judged_sha256 == hashlib.sha256(canonical_json(judged)).hexdigest()
    assert not CaseResult.objects.filter(run=run, case_id__contains="search").exists()


def test_promoted_failures_become_regression_cases_that_fail_again(demo):
    from validation import services
    from validation.models import FailureSearch

    campaign, erin, _ = demo
    _run_search()
    found = FailureSearch.objects.get()
    # two failing cases with different parameters: a sampler may propose one point twice (at a
    # range's bound), and the same parameters make one regression case
    failing, seen = [], []
    for evaluation in found.evaluations:
        if evaluation["failing"] and evaluation["params"] not in seen:
            failing.append(evaluation)
            seen.append(evaluation["params"])
    failing = failing[:2]
    assert len(failing) == 2
    entries = LogEntry.objects.count()
    space = services.promote_failures(
        user=erin, search=found, case_ids=[e["case_id"] for e in failing]
    )
    assert space.kind == "deterministic" and space.name == "CCRs-regression"
    assert campaign.spaces.filter(pk=space.pk).exists()
    assert len(space.cases) == 2
    change = LogEntry.objects.order_by("-index").first()
    assert LogEntry.objects.count() == entries + 1 and change.kind == EntryKind.CHANGE
    promoted = _predicate(change)
    assert promoted["promotedFrom"] == {"search": found.pk, "entry": found.entry.index}
    assert [c["case_id"] for c in promoted["cases"]] == [e["case_id"] for e in failing]
    found.refresh_from_db()
    assert found.promoted == sorted(e["case_id"] for e in failing)
    cases = [c for c in services.campaign_cases(campaign) if "/CCRs-regression/" in c["case_id"]]
    assert [c["source"]["seed"] for c in cases] == [found.seed, found.seed]
    results = compute(cases)
    assert all(case_fails(AC02, results[c["case_id"]]) for c in cases)
    # Promoting again adds nothing twice; a passing case is refused and nothing changes.
    services.promote_failures(user=erin, search=found, case_ids=[failing[0]["case_id"]])
    space.refresh_from_db()
    assert len(space.cases) == 2
    passing = next(e for e in found.evaluations if not e["failing"])
    entries = LogEntry.objects.count()
    with pytest.raises(ValidationError, match="Only failing cases"):
        services.promote_failures(user=erin, search=found, case_ids=[passing["case_id"]])
    with pytest.raises(ValidationError, match="Not cases of search"):
        services.promote_failures(user=erin, search=found, case_ids=["CCRs/elsewhere/000001"])
    space.refresh_from_db()
    assert len(space.cases) == 2 and LogEntry.objects.count() == entries


def test_a_viewer_and_an_outsider_may_not_search_or_promote(demo, make_member, other_project):
    from compliance.models import AcceptanceCriterion
    from projects.permissions import Role
    from validation import services
    from validation.models import FailureSearch, Scenario

    campaign, erin, vic = demo
    outsider = make_member(other_project, Role.ADMIN, username="outsider")
    project = campaign.project
    criterion = AcceptanceCriterion.objects.get(project=project, code="AC-02")
    scenario = Scenario.objects.get(project=project, name="CCRs")
    entries = LogEntry.objects.count()
    for user, refusal in ((vic, PermissionDenied), (outsider, Http404)):
        with pytest.raises(refusal):
            services.failure_search(
                user=user,
                project=project,
                criterion=criterion,
                scenario=scenario,
                campaign=campaign,
                budget=5,
            )
    assert not FailureSearch.objects.exists() and LogEntry.objects.count() == entries
    found = services.failure_search(
        user=erin, project=project, criterion=criterion, scenario=scenario, budget=40
    )
    failing = [e["case_id"] for e in found.evaluations if e["failing"]]
    entries = LogEntry.objects.count()
    for user, refusal in ((vic, PermissionDenied), (outsider, Http404)):
        with pytest.raises(refusal):
            services.promote_failures(
                user=user, search=found, case_ids=failing[:1], campaign=campaign
            )
    assert LogEntry.objects.count() == entries
    assert not campaign.spaces.filter(name="CCRs-regression").exists()


def test_the_command_names_what_it_cannot_find(demo):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no criterion AC-99 in AEB"):
        call_command(
            "failure_search",
            *("--project", "AEB", "--criterion", "AC-99", "--scenario", "CCRs"),
            *("--user", "erin"),
        )
    with pytest.raises(CommandError, match="--ranges is not JSON"):
        _run_search(["--ranges", "{ego"])
    with pytest.raises(CommandError, match="outside the criterion's scope"):
        _run_search(["--ranges", '{"ego_speed": [60, 70]}'])


def test_given_ranges_keep_the_space_fixed_parameters(demo):
    from validation.models import FailureSearch

    report = json.loads(_run_search(["--ranges", '{"ego_speed": [45, 60]}', "--json"]))
    found = FailureSearch.objects.get(pk=report["search"])
    assert found.ranges == {"ego_speed": [45.0, 50.0]}
    assert found.fixed["scenario"] == "ccrs" and found.fixed["target_speed"] == 0
    # What varies across the space is not fixed: the gap is left to the simulator's default.
    assert "initial_gap" not in found.fixed and "ego_speed" not in found.fixed


def test_an_engineer_searches_over_the_api_and_a_viewer_is_refused(demo, api):
    from validation.models import FailureSearch

    _, erin, vic = demo
    url = "/api/v1/projects/AEB/searches/"
    body = {"criterion": "AC-02", "scenario": "CCRs", "campaign": "AEB-demo", "budget": 20}
    entries = LogEntry.objects.count()
    assert api(vic).post(url, body, format="json").status_code == 403
    refused = api(erin).post(url, {**body, "criterion": "AC-99"}, format="json")
    assert refused.status_code == 400 and "No criterion AC-99 in AEB" in str(refused.json())
    assert LogEntry.objects.count() == entries and not FailureSearch.objects.exists()
    made = api(erin).post(url, body, format="json")
    assert made.status_code == 201, made.content
    data = made.json()
    assert data["kind"] == "search" and data["criterion"] == "AC-02"
    assert data["summary"]["evaluated"] == 20 and data["campaign"] == "AEB-demo"
    listed = api(vic).get(url).json()
    assert [row["id"] for row in listed["results"]] == [data["id"]]
