"""Campaigns over REST: start a run, watch its progress, cancel, read results; 400, 403, 404.
Every route's 401, 403 and 404 per role: ``tests/config/test_access_sweep.py``."""

import pytest

from validation import services
from validation.models import Run, Scenario

pytestmark = pytest.mark.django_db
BASE = "/api/v1/projects/AEB"


@pytest.fixture
def campaign(project, members, no_collision):
    ac = no_collision
    fsr = ac.requirement
    scenario = Scenario.objects.create(project=project, name="CCRs", file_name="", sha256="0" * 64)
    scenario.requirements.add(fsr)
    space = services.space_create(
        user=members["engineer"],
        project=project,
        scenario=scenario,
        name="grid",
        ranges={"ego_speed": [10, 30, 10], "initial_gap": {"values": [30, 50]}},
        method="grid",
        n=50,
        fixed={"scenario": "ccrs"},
    )
    return services.campaign_create(
        user=members["engineer"],
        project=project,
        name="CCRs",
        spaces=[space],
        criteria=[ac],
        shard_size=2,
    )


def test_an_engineer_starts_a_run_and_reads_its_verdicts(
    api, members, campaign, django_capture_on_commit_callbacks
):
    client = api(members["engineer"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/campaigns/CCRs/runs/", {}, format="json")
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    data = client.get(f"{BASE}/runs/{run_id}/").json()
    assert data["status"] == "succeeded"
    assert data["cases_done"] == data["cases_total"] == 6
    assert data["verdicts"][0]["criterion"] == "AC-04"
    ac = campaign.criteria.get()  # the numbers say their unit and confidence
    assert (data["verdicts"][0]["unit"], data["verdicts"][0]["confidence"]) == (
        ac.unit,
        ac.confidence,
    )
    results = client.get(f"{BASE}/runs/{run_id}/results/").json()
    assert results["count"] == 6
    assert "min_ttc" in results["results"][0]["kpis"]


def test_progress_is_visible_while_queued_and_cancel_works(
    api, members, campaign, django_capture_on_commit_callbacks
):
    client = api(members["engineer"])
    with django_capture_on_commit_callbacks(execute=False):
        run_id = client.post(f"{BASE}/campaigns/CCRs/runs/", {}, format="json").json()["id"]
    services.run_shard(run_id, 0)
    data = client.get(f"{BASE}/runs/{run_id}/").json()
    assert (data["status"], data["cases_done"], data["cases_total"]) == ("running", 2, 6)
    assert api(members["viewer"]).post(f"{BASE}/runs/{run_id}/cancel/").status_code == 403
    assert client.post(f"{BASE}/runs/{run_id}/cancel/").json()["status"] == "cancelled"
    assert services.run_shard(run_id, 1) == "cancelled"


def test_a_viewer_cannot_start_and_a_bad_executor_is_400(api, members, campaign):
    assert (
        api(members["viewer"]).post(f"{BASE}/campaigns/CCRs/runs/", {}, format="json").status_code
        == 403
    )
    response = api(members["engineer"]).post(
        f"{BASE}/campaigns/CCRs/runs/", {"executor": "mainframe"}, format="json"
    )
    assert response.status_code == 400
    assert "executor" in response.json()
    assert not Run.objects.exists()


def test_lists(api, members, campaign):
    client = api(members["viewer"])
    assert client.get(f"{BASE}/scenarios/").json()["results"][0]["spaces"][0]["cases"] == 6
    assert client.get(f"{BASE}/campaigns/").json()["results"][0]["criteria"] == ["AC-04"]


def test_unknown_campaign_and_run_are_404(api, members, campaign):
    client = api(members["engineer"])
    assert client.post(f"{BASE}/campaigns/nope/runs/", {}, format="json").status_code == 404
    assert client.get(f"{BASE}/runs/999/").status_code == 404
