"""Campaigns end to end in-process: scenarios, shards, results once, verdicts, the ledger."""

import base64
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance import services as compliance
from compliance import units
from compliance.models import Verification
from evidence.models import LogEntry
from evidence.verification import verify_project
from tests.shared_data import shared_path
from validation import services
from validation.models import CaseResult, Run, Scenario, Verdict

pytestmark = pytest.mark.django_db


def statement(entry):
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))


def test_a_run_computes_every_case_once_and_records_its_verdicts(
    project, members, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.cases_total == len(campaign.spaces.get().cases) == CaseResult.objects.count()
    assert run.shards_total == (run.cases_total + 4) // 5
    verdict = Verdict.objects.get(run=run)
    assert verdict.trials == run.cases_total
    failing = sum(
        1
        for k in CaseResult.objects.filter(run=run).values_list("kpis", flat=True)
        if k["collision"] or k["min_ttc"] is None or k["min_ttc"] <= 1.0
    )
    assert verdict.failures == failing
    # One failure among a dozen cases already puts the lower bound above 1e-3; without any,
    # a dozen cases are far too few to show 1e-3 (2,995 would be needed).
    assert verdict.verdict == ("fail" if failing else "inconclusive")
    body = statement(run.entry)
    assert body["predicateType"].endswith("/validation-result/v1")
    assert body["predicate"]["inputs"]["seed"] == 0
    assert {s["name"].rsplit(":", 1)[1] for s in body["subject"]} == {"results", "verdicts"}
    verification = Verification.objects.get(requirement__code="FSR-010")
    assert verification.result == verdict.verdict and verification.entry == run.entry
    assert verify_project(project).ok


def test_a_redelivered_shard_adds_nothing(
    project, members, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.run_start(user=members["engineer"], campaign=campaign)
    assert len(callbacks) == run.shards_total
    services.run_shard(run.pk, 0)
    services.run_shard(run.pk, 0)  # the same message delivered again
    first = CaseResult.objects.filter(run=run).count()
    assert first == 5
    for shard in range(run.shards_total):
        services.run_shard(run.pk, shard)
    services.run_shard(run.pk, 1)  # after the end: nothing changes
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert CaseResult.objects.filter(run=run).count() == run.cases_total
    assert Verdict.objects.filter(run=run).count() == 1
    assert LogEntry.objects.filter(project=project, kind="validation-result").count() == 1


def test_a_cancelled_run_records_no_verdict(
    project, members, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    services.run_cancel(user=members["engineer"], run=run)
    for shard in range(run.shards_total):
        assert services.run_shard(run.pk, shard) == "cancelled"
    assert not Verdict.objects.exists()
    assert not CaseResult.objects.exists()


def test_a_corrupt_drive_fails_the_run_and_records_no_pass(
    project, members, criterion, tmp_path, django_capture_on_commit_callbacks
):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    scenario = Scenario.objects.create(
        project=project, name="replay", file_name="-", sha256="1" * 64
    )
    space = services.ParameterSpace.objects.create(
        scenario=scenario,
        name="drives",
        kind="drives",
        ranges={"drives": True},
        cases=[{"uri": bad.as_uri()}],
    )
    campaign = services.campaign_create(
        user=members["engineer"],
        project=project,
        name="Replay",
        spaces=[space],
        criteria=[criterion],
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "broken.parquet" in run.error or "parquet" in run.error.lower()
    assert not Verdict.objects.exists()
    assert not Verification.objects.exists()


def test_a_viewer_cannot_start_a_run(members, campaign):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.run_start(user=members["viewer"], campaign=campaign)
    assert not Run.objects.exists()


def _run_campaign(user, *options) -> str:
    """What ``run_campaign`` prints for the CCRs campaign of AEB."""
    out = StringIO()
    arguments = ["--project", "AEB", "--campaign", "CCRs", "--user", user, *options]
    call_command("run_campaign", *arguments, stdout=out)
    return out.getvalue()


def test_run_campaign_prints_its_verdicts(ledger_transactional_db, project, members, campaign):
    summary = json.loads(_run_campaign(members["engineer"].username, "--json", "--timeout", "120"))
    assert summary["status"] == "succeeded"
    assert summary["cases"] == campaign.spaces.get().cases.__len__()
    (verdict,) = summary["verdicts"]
    assert verdict["criterion"] == "AC-02"
    assert verdict["verdict"] in ("pass", "fail", "inconclusive")
    assert verdict["trials"] == summary["cases"]
    ac = campaign.criteria.get()
    assert (summary["executor"], verdict["unit"], verdict["confidence"]) == (
        campaign.executor,
        ac.unit,
        ac.confidence,
    )
    text = _run_campaign(members["engineer"].username, "--executor", "local")
    run = Run.objects.latest("created_at")
    verdict = run.verdicts.get()
    assert f"run {run.pk} of CCRs on local: succeeded" in text
    upper = units.bound(verdict.upper_bound, ac.unit, ac.confidence)
    assert upper.endswith(" per case at 95 %")
    assert f"failing, upper bound {upper})" in text


def test_import_scenarios_expands_the_esmini_cut_in_to_12_cases(project, members):
    path = shared_path("data", "real", "openscenario", "esmini", "cut-in_parameter_set.xosc")
    out = StringIO()
    call_command(
        "import_scenarios",
        str(path),
        "--project",
        "AEB",
        "--json",
        "--user",
        members["engineer"].username,
        stdout=out,
    )
    result = json.loads(out.getvalue())
    assert {k: result[k] for k in ("scenarios", "cases", "discarded", "catalogs")} == {
        "scenarios": 1,
        "cases": 12,
        "discarded": 0,
        "catalogs": 0,
    }
    # cut-in.xosc's vehicle catalog is not among the shared files: said, never hidden
    assert any("VehicleCatalog not found" in w for w in result["warnings"])
    scenario = Scenario.objects.get(project=project)
    assert scenario.name == "cut-in"
    assert len(scenario.spaces.get().cases) == 12


def test_import_scenarios_refuses_hostile_xml(project, members, tmp_path):
    hostile = tmp_path / "evil.xosc"
    hostile.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><OpenSCENARIO>&a;</OpenSCENARIO>'
    )
    with pytest.raises(CommandError):
        call_command(
            "import_scenarios",
            str(hostile),
            "--project",
            "AEB",
            "--user",
            members["engineer"].username,
        )
    assert not Scenario.objects.exists()
    assert not LogEntry.objects.exists()


class SlowExecutor:
    """An executor whose job is still running at the first poll, like a SageMaker job."""

    name = "slow"
    polls: dict = {}

    def submit(self, run_id, shard, cases):
        from validation.execution.local import compute

        handle = f"job-{run_id}-{shard}"
        SlowExecutor.polls[handle] = [0, compute(cases)]
        return handle

    def poll(self, handle):
        SlowExecutor.polls[handle][0] += 1
        return "running" if SlowExecutor.polls[handle][0] < 3 else "succeeded"

    def collect(self, handle):
        return SlowExecutor.polls[handle][1]

    def cancel(self, handle):
        pass

    def failure_reason(self, handle):
        return None


class FailingExecutor(SlowExecutor):
    """An executor whose job fails, and which says why."""

    def submit(self, run_id, shard, cases):
        return f"job-{run_id}-{shard}"

    def poll(self, handle):
        return "failed"

    def failure_reason(self, handle):
        return f"{handle} ran out of memory"


def test_a_failed_job_fails_the_run_with_the_executors_reason(
    project, members, campaign, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "get_executor", lambda name: FailingExecutor())
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == f"shard 0: shard 0 ended failed: job-{run.pk}-0 ran out of memory"
    assert not CaseResult.objects.filter(run=run).exists()
    assert run.entry is None


def test_a_running_job_is_polled_again_until_it_ends(
    project, members, campaign, monkeypatch, django_capture_on_commit_callbacks
):
    from validation.execution.base import ShardPending
    from validation.tasks import run_shard_task

    monkeypatch.setattr(services, "get_executor", lambda name: SlowExecutor())
    monkeypatch.setattr("validation.tasks.POLL_PAUSE_IN_PROCESS", 0.0)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    with pytest.raises(ShardPending) as pending:
        services.run_shard(run.pk, 0)
    assert not CaseResult.objects.filter(run=run).exists()
    for shard in range(run.shards_total):  # the task retries with the handle until done
        run_shard_task.apply(args=(run.pk, shard, pending.value.handle if shard == 0 else None))
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert CaseResult.objects.filter(run=run).count() == run.cases_total


def test_a_replay_space_has_a_digest_that_its_runs_record(
    project, members, criterion, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.exceptions import PermissionDenied, ValidationError

    from validation import lake

    drives = []
    for number, name in enumerate(["drive-a", "drive-b"]):
        table = lake.generate_drive(name, {"scenario": "ccrs", "ego_speed": 30}, seed=number)
        lake.write_tracks(table, tmp_path / f"{name}.parquet")
        drives.append({"uri": (tmp_path / f"{name}.parquet").as_uri(), "case": name})
    engineer = members["engineer"]
    scenario = services.scenario_define(
        user=engineer, project=project, name="replay", parameters=[{"name": "drive"}]
    )
    with pytest.raises(PermissionDenied):
        services.space_from_drives(
            user=members["viewer"], project=project, scenario=scenario, name="r", drives=drives
        )
    with pytest.raises(ValidationError):
        services.space_from_drives(
            user=engineer, project=project, scenario=scenario, name="r", drives=[{"case": "x"}]
        )
    space = services.space_from_drives(
        user=engineer, project=project, scenario=scenario, name="recordings", drives=drives
    )
    other = services.space_from_drives(
        user=engineer, project=project, scenario=scenario, name="first", drives=drives[:1]
    )
    assert len(space.sha256) == 64 and space.sha256 != other.sha256
    assert (space.kind, space.ranges, space.cases) == ("drives", {"drives": True}, drives)
    campaign = services.campaign_create(
        user=engineer, project=project, name="replay", spaces=[space], criteria=[criterion]
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=engineer, campaign=campaign)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.cases_total == 2
    assert statement(run.entry)["predicate"]["inputs"]["spaces"] == [space.sha256]


def test_the_requirements_a_scenario_verifies_are_set_by_an_editor_of_its_project(
    project, other_project, members, criterion, outsider
):
    from django.core.exceptions import PermissionDenied, ValidationError

    scenario = services.scenario_define(
        user=members["engineer"], project=project, name="cut-in", parameters=[{"name": "gap"}]
    )
    with pytest.raises(PermissionDenied):
        services.scenario_requirements_set(
            user=members["viewer"],
            project=project,
            scenario=scenario,
            requirements=[criterion.requirement],
        )
    foreign = compliance.requirement_create(
        user=outsider, project=other_project, code="FSR-001", kind="FSR", asil="B"
    )
    with pytest.raises(ValidationError):
        services.scenario_requirements_set(
            user=members["engineer"], project=project, scenario=scenario, requirements=[foreign]
        )
    assert not scenario.requirements.exists()
    services.scenario_requirements_set(
        user=members["engineer"],
        project=project,
        scenario=scenario,
        requirements=[criterion.requirement],
    )
    assert list(scenario.requirements.values_list("code", flat=True)) == ["FSR-010"]
