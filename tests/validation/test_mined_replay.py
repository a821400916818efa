"""Mined events replay as concrete cases of a campaign (their drive and time span), recorded in
the ledger; a run counts each recorded drive's exposure once toward rate criteria."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import ValidationError

from compliance import services as compliance
from evidence.models import LogEntry
from evidence.verification import verify_project
from tests.shared_data import shared_path
from validation import kpis, mining, services
from validation.execution.cases import case_tables
from validation.models import CaseResult, Verdict

pytestmark = pytest.mark.django_db

RECORDINGS = ("commonroad-io__USA_US101-4_1_T-1.xml", "commonroad-io__USA_Peach-4_8_T-1.xml")


def _statement(entry):
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))


@pytest.fixture
def mined(project, members):
    """The two recordings mined for every vehicle's events (4 + 1 events)."""
    drives = []
    for name in RECORDINGS:
        data = shared_path("data", "real", "commonroad", name).read_bytes()
        drive, _ = services.mine_drive(
            user=members["engineer"],
            project=project,
            data=data,
            name=name,
            thresholds=mining.Thresholds(all_vehicles=True),
        )
        drives.append(drive)
    return drives


@pytest.fixture
def scenario(project, members):
    return services.scenario_define(
        user=members["engineer"], project=project, name="NGSIM", parameters=[{"name": "event"}]
    )


def _rate_criterion(project, user, unit="km"):
    return compliance.acceptance_criterion_save(
        user=user,
        project=project,
        code=f"AC-{unit.upper()}",
        unit=unit,
        hazardous_behaviour_rate=1e-2,
        confidence=0.9,
        description="unintended braking below 1 per 100 km (or hour)",
    )


def test_mined_events_become_cases_with_their_drive_and_time_span(
    project, members, mined, scenario
):
    before = LogEntry.objects.filter(project=project).count()
    space = services.events_space(
        user=members["engineer"], project=project, scenario=scenario, name="events"
    )
    assert len(space.cases) == 5
    assert sorted(space.ranges["recorded"]) == sorted(d.sha256 for d in mined)
    by_event = {c["recorded_event"]: c for c in space.cases}
    for drive in mined:
        for event in drive.events.all():
            case = by_event[event.pk]
            assert case["recorded_drive"] == drive.sha256 and case["ego"] == event.actors[0]
            assert case["span"] == pytest.approx([max(event.t_start - 2, 0), event.t_end + 2])
    # one ledger entry names the space's digest and every drive's and events' digests
    assert LogEntry.objects.filter(project=project).count() == before + 1
    entry = LogEntry.objects.filter(project=project).latest("index")
    body = _statement(entry)
    assert body["subject"][0]["digest"]["sha256"] == space.sha256
    assert {d["events"] for d in body["predicate"]["drives"]} == {d.events_sha256 for d in mined}

    # a replayed low-TTC event shows the TTC the mining found, with its subject as the ego
    low = next(e for e in mined[0].events.all() if e.kind == "low_ttc")
    campaign = services.campaign_create(
        user=members["engineer"], project=project, name="replay", spaces=[space], criteria=[]
    )
    (case,) = [
        c for c in services.campaign_cases(campaign) if c["params"]["recorded_event"] == low.pk
    ]
    (table,) = case_tables([case])
    values = kpis.case_kpis(table)[case["case_id"]]
    assert values["start"] == pytest.approx(case["params"]["span"][0])
    assert values["end"] <= case["params"]["span"][1] + 1e-9
    # the KPI engine finds the same closest call (it may only find a closer one, since it also
    # takes a vehicle overlapping the ego's lane as the lead); the peak is stored to 1e-6
    assert values["min_ttc"] <= low.peak + 1e-6


def test_a_run_of_mined_events_counts_each_drive_once(
    project, members, mined, scenario, django_capture_on_commit_callbacks
):
    per_km = _rate_criterion(project, members["engineer"], "km")
    per_hour = _rate_criterion(project, members["engineer"], "h")
    space = services.events_space(
        user=members["engineer"], project=project, scenario=scenario, name="events"
    )
    campaign = services.campaign_create(
        user=members["engineer"],
        project=project,
        name="mined",
        spaces=[space],
        criteria=[per_km, per_hour],
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert CaseResult.objects.filter(run=run).count() == 5
    km = sum(d.distance_km for d in mined)
    hours = sum(d.duration_s for d in mined) / 3600
    verdict = Verdict.objects.get(run=run, criterion=per_km)
    assert verdict.exposure == pytest.approx(km)  # not 4 x the US-101 drive, not the windows
    assert verdict.exposure_figures["recorded_drives"] == sorted(
        ({"sha256": d.sha256, "exposure": d.distance_km} for d in mined),
        key=lambda r: r["sha256"],
    )
    assert verdict.exposure_figures["cases"] == 0.0
    assert Verdict.objects.get(run=run, criterion=per_hour).exposure == pytest.approx(hours)
    statements = _statement(run.entry)["predicate"]["verdicts"]
    assert {s["criterion"]: s["exposureFigures"]["total"] for s in statements} == {
        "AC-KM": pytest.approx(km),
        "AC-H": pytest.approx(hours),
    }

    # mining a drive again and running again: still once
    data = shared_path("data", "real", "commonroad", RECORDINGS[0]).read_bytes()
    services.mine_drive(
        user=members["engineer"],
        project=project,
        data=data,
        name=RECORDINGS[0],
        thresholds=mining.Thresholds(all_vehicles=True),
    )
    with django_capture_on_commit_callbacks(execute=True):
        again = services.run_start(user=members["engineer"], campaign=campaign)
    assert Verdict.objects.get(run=again, criterion=per_km).exposure == pytest.approx(km)
    assert verify_project(project).ok


def test_bad_requests_for_an_events_space_change_nothing(
    project, members, mined, scenario, outsider
):
    before = LogEntry.objects.filter(project=project).count()
    user = members["engineer"]
    with pytest.raises(ValidationError, match="Unknown event kind"):
        services.events_space(
            user=user, project=project, scenario=scenario, name="x", kinds=["swerve"]
        )
    with pytest.raises(ValidationError, match="padding"):
        services.events_space(user=user, project=project, scenario=scenario, name="x", padding=-1)
    assert LogEntry.objects.filter(project=project).count() == before
    assert not scenario.spaces.exists()


def test_an_events_space_needs_a_mined_drive(project, members, scenario):
    with pytest.raises(ValidationError, match="has no mined drive"):
        services.events_space(
            user=members["engineer"], project=project, scenario=scenario, name="x"
        )
