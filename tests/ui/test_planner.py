"""The campaign planner: the ranges of each declared parameter as fields, only the configured
executors offered (and an unconfigured one refused by the run service, nothing created), and
in the embedded mode a run handed to the background worker so the request returns at once."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from validation import background
from validation import services as validation_services
from validation.execution import registry
from validation.models import Campaign, ParameterSpace, Run, Scenario


@pytest.fixture
def ccrs(demo):
    return Scenario.objects.get(project=demo, name="CCRs")


def _html(response) -> str:
    return response.content.decode()


def _space_post(scenario, **fields) -> dict:
    """The space form as the planner renders it for CCRs, with ``fields`` changed."""
    names = [p["name"] for p in scenario.parameters]
    data = {"scenario": scenario.pk, "name": "ranges-as-fields", "method": "grid", "n": "500"}
    data["seed"] = "0"
    for index, _name in enumerate(names):
        for part in ("min", "max", "step", "values"):
            data[f"p{index}_{part}"] = ""
    data.update(fields)
    return data


def test_the_planner_shows_the_declared_parameters_as_fields(as_user, ccrs):
    page = _html(as_user("erin").get(f"/p/AEB/campaigns/new/?scenario={ccrs.pk}"))
    assert "Ranges of the parameters of CCRs" in page
    for name in ("ego_speed", "initial_gap", "surface", "lighting"):
        assert f'aria-label="{name} min"' in page
    # filled in from the declared range [10, 50, 5] and the set {"values": ["dry", "wet"]}
    assert re.search(r'name="p0_min" value="10(\.0)?"', page)
    assert re.search(r'name="p0_step" value="5(\.0)?"', page)
    assert 'value="dry, wet"' in page
    assert "Choose a scenario to fill in the ranges" in _html(
        as_user("erin").get("/p/AEB/campaigns/new/")
    )


def test_an_engineer_samples_a_space_from_the_fields(as_user, ccrs):
    # index 0 ego_speed, 1 initial_gap, 2 surface, 3 lighting (the declared order)
    data = _space_post(
        ccrs,
        p0_min="20",
        p0_max="40",
        p0_step="10",
        p2_values="dry, wet",
        fixed='{"scenario": "ccrs"}',
    )
    response = as_user("erin").post("/p/AEB/campaigns/spaces/new/", data)
    assert response.status_code == 302, _html(response)[:1500]
    space = ParameterSpace.objects.get(scenario=ccrs, name="ranges-as-fields")
    assert space.ranges == {"ego_speed": [20.0, 40.0, 10.0], "surface": {"values": ["dry", "wet"]}}
    assert len(space.cases) == 6  # 3 speeds x 2 surfaces
    assert {c["scenario"] for c in space.cases} == {"ccrs"}


@pytest.mark.parametrize(
    "fields,field,message",
    [
        ({"p0_min": "40", "p0_max": "20"}, "p0_max", "The ego_speed max is below its min."),
        ({"p0_min": "40"}, "p0_max", "Give ego_speed both ends."),
        ({"p0_min": "1", "p0_max": "2", "p0_step": "0"}, "p0_step", "step must be above 0"),
        ({"p2_values": "dry", "p2_min": "1", "p2_max": "2"}, "p2_values", "not both"),
        ({"p0_min": "x", "p0_max": "2"}, "p0_min", "Enter a number."),
    ],
)
def test_a_bad_range_is_refused_beside_its_field(as_user, ccrs, fields, field, message):
    before = ParameterSpace.objects.count()
    response = as_user("erin").post("/p/AEB/campaigns/spaces/new/", _space_post(ccrs, **fields))
    assert response.status_code == 400
    page = _html(response)
    cell = re.search(rf'<td class="invalid"><input[^>]*name="{field}".*?</td>', page, re.S)
    assert cell is not None and message in cell.group(0)
    assert ParameterSpace.objects.count() == before


def test_no_range_at_all_is_refused(as_user, ccrs):
    response = as_user("erin").post("/p/AEB/campaigns/spaces/new/", _space_post(ccrs))
    assert response.status_code == 400
    assert "Give at least one parameter range." in _html(response)


def test_a_viewer_may_not_plan(as_user):
    assert as_user("vic").get("/p/AEB/campaigns/new/").status_code == 403


# --- Executors ---------------------------------------------------------------------------------


def test_sagemaker_is_offered_only_when_configured(as_user, settings):
    settings.SAFECASE_SAGEMAKER_BUCKET = ""
    settings.SAFECASE_SAGEMAKER_ROLE = ""
    assert "sagemaker" not in registry.configured_names()
    page = _html(as_user("erin").get("/p/AEB/campaigns/new/"))
    assert 'value="local"' in page and 'value="sagemaker"' not in page
    settings.SAFECASE_SAGEMAKER_BUCKET = "runs"
    settings.SAFECASE_SAGEMAKER_ROLE = "arn:aws:iam::000000000000:role/runner"
    assert 'value="sagemaker"' in _html(as_user("erin").get("/p/AEB/campaigns/new/"))


def test_the_api_refuses_a_run_on_an_unconfigured_executor(as_user, demo, settings):
    settings.SAFECASE_SAGEMAKER_BUCKET = ""
    settings.SAFECASE_SAGEMAKER_ROLE = ""
    runs = Run.objects.count()
    response = as_user("erin").post(
        "/api/v1/projects/AEB/campaigns/AEB-demo/runs/",
        {"executor": "sagemaker"},
        "application/json",
    )
    assert response.status_code == 400
    assert response.json()["executor"] == [
        "The SageMaker job executor is not configured here: SAFECASE_SAGEMAKER_BUCKET and "
        "SAFECASE_SAGEMAKER_ROLE are not set. Use local or spark."
    ]
    assert Run.objects.count() == runs


def test_the_run_page_refuses_an_unconfigured_executor(as_user, demo, settings):
    settings.SAFECASE_SAGEMAKER_BUCKET = ""
    campaign = Campaign.objects.get(project=demo, name="AEB-demo")
    runs = Run.objects.count()
    client = as_user("erin")
    response = client.post(
        reverse("ui:run-start", args=["AEB", campaign.pk]), {"executor": "sagemaker"}, follow=True
    )
    assert "The SageMaker job executor is not configured here: SAFECASE_SAGEMAKER_BUCKET" in (
        _html(response)
    )
    assert Run.objects.count() == runs


def test_spark_needs_java(monkeypatch):
    monkeypatch.setattr(registry.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert "no Java runtime" in registry.not_configured("spark")
    assert registry.not_configured("local") is None


# --- The background worker ---------------------------------------------------------------------


def test_a_run_started_in_the_page_goes_to_the_background_worker(
    as_user, demo, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.SAFECASE_BACKGROUND_RUNS = True
    handed = []
    monkeypatch.setattr(background, "submit", lambda call, what: handed.append((call, what)))
    campaign = Campaign.objects.get(project=demo, name="AEB-demo")
    client = as_user("erin")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("ui:run-start", args=["AEB", campaign.pk]))
    run = Run.objects.filter(campaign=campaign).latest("created_at")
    assert response.status_code == 302
    assert run.status == "queued" and len(handed) == run.shards_total
    assert all(what.startswith(f"run {run.pk} shard ") for _, what in handed)

    progress = _html(client.get(reverse("ui:run-progress", args=["AEB", run.pk])))
    assert 'hx-trigger="every 2s"' in progress  # the page polls while the run is active

    for call, _ in handed:  # what the worker does
        call()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    progress = _html(client.get(reverse("ui:run-progress", args=["AEB", run.pk])))
    assert 'hx-trigger="every 2s"' not in progress


def test_a_command_run_stays_in_the_caller(demo, people, settings, monkeypatch):
    settings.SAFECASE_BACKGROUND_RUNS = True
    monkeypatch.setattr(background, "submit", lambda *a: pytest.fail("sent to the background"))
    sent = []
    monkeypatch.setattr(validation_services, "_schedule_shard", lambda *a: sent.append(a))
    campaign = Campaign.objects.get(project=demo, name="AEB-demo")
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        run = validation_services.run_start(user=people["erin"], campaign=campaign)
    assert len(sent) == run.shards_total


def test_the_worker_runs_the_call_in_another_thread_and_closes_its_connections(
    settings, monkeypatch
):
    import threading

    settings.SAFECASE_BACKGROUND_WORKERS = 1
    seen = []
    monkeypatch.setattr(
        background.connections, "close_all", lambda: seen.append(("closed", _thread()))
    )

    def _thread():
        return threading.current_thread().name

    background.submit(lambda: seen.append(("ran", _thread())), "probe").result(timeout=30)
    (ran, ran_in), (closed, closed_in) = seen
    assert (ran, closed) == ("ran", "closed")
    assert ran_in == closed_in and ran_in.startswith("safecase-run")


def test_a_failing_job_is_logged_not_raised(caplog):
    def call():
        raise RuntimeError("boom")

    background.submit(call, "run 1 shard 0").result(timeout=30)
    assert "background job run 1 shard 0 failed" in caplog.text


def test_a_job_refused_by_a_locked_database_runs_again(monkeypatch):
    from django.db import OperationalError

    monkeypatch.setattr(background, "PAUSE", 0.01)
    attempts = []

    def call():
        attempts.append(1)
        if len(attempts) < 3:
            try:
                raise OperationalError("database table is locked")
            except OperationalError as exc:  # as an eager task wraps it
                raise RuntimeError("Retry in 0s") from exc

    background.submit(call, "run 1 shard 0").result(timeout=30)
    assert len(attempts) == 3
