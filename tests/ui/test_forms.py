"""The forms: a valid submission goes through the service; a refused one shows each message
beside the field it concerns, whether the form or the service found it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from compliance.models import (
    Baseline,
    Hazard,
    HazardousEvent,
    OperationalSituation,
    Requirement,
    TraceLink,
)
from evidence.models import LogEntry
from validation.models import Campaign, ParameterSpace, Scenario


def field_errors(html: str, field: str) -> list[str]:
    """The messages rendered beside ``field`` (the list that follows its widget)."""
    match = re.search(rf'<ul class="errors" id="id_{field}_errors">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", match.group(1), re.S) if match else []


def hara_data(project, **overrides):
    data = {
        "code": "HE-07",
        "hazard": Hazard.objects.get(project=project, code="H-02").pk,
        "situation": OperationalSituation.objects.get(project=project, code="OS-01").pk,
        "severity": "S3",
        "severity_rationale": "a stopped car hit at motorway speed",
        "exposure": "E3",
        "exposure_rationale": "stopped traffic ahead on some motorway drives",
        "controllability": "C3",
        "controllability_rationale": "the driver is assumed distracted",
    }
    data.update(overrides)
    return data


# --- HARA --------------------------------------------------------------------------------------


def test_adding_a_hazardous_event_computes_its_asil(as_user, demo):
    client = as_user("erin")
    response = client.post(reverse("ui:hara", args=["AEB"]), hara_data(demo))
    assert response.status_code == 302
    event = HazardousEvent.objects.get(project=demo, code="HE-07")
    assert event.asil == "C"
    assert LogEntry.objects.filter(project=demo, subject="event:HE-07").exists()
    page = client.get(response["Location"]).content.decode()
    assert "HE-07 added: ASIL C." in page


def test_a_missing_rationale_is_shown_beside_its_field(as_user, demo):
    data = hara_data(demo, exposure_rationale="  ")
    response = as_user("erin").post(reverse("ui:hara", args=["AEB"]), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert field_errors(html, "exposure_rationale") == ["Every rating needs a rationale."]
    assert field_errors(html, "severity_rationale") == []
    assert not HazardousEvent.objects.filter(code="HE-07").exists()


def test_the_asil_shows_after_submit_without_javascript(as_user, demo):
    """With S, E and C chosen but the form refused, the page still says what ASIL they give."""
    data = hara_data(demo, code="", severity="S2", exposure="E4", controllability="C3")
    html = as_user("erin").post(reverse("ui:hara", args=["AEB"]), data).content.decode()
    assert field_errors(html, "code") == ["This field is required."]
    output = re.search(r'<output id="asil-output".*?</output>', html, re.S).group(0)
    assert 'title="ASIL C"' in output


def test_a_code_the_service_rejects_is_shown_beside_the_code(as_user, demo):
    """The code format is the model's rule, raised by the service's full_clean."""
    data = hara_data(demo, code="he7")
    html = as_user("erin").post(reverse("ui:hara", args=["AEB"]), data).content.decode()
    assert field_errors(html, "code") == [
        "Use an upper-case id with a dash, such as FSR-012, HE-01 or SG-3."
    ]


def test_a_taken_code_is_refused(as_user, demo):
    data = hara_data(demo, code="HE-01")
    html = as_user("erin").post(reverse("ui:hara", args=["AEB"]), data).content.decode()
    assert field_errors(html, "code") == ["HE-01 exists already; choose another code."]


def test_a_hazard_of_another_project_is_not_a_choice(as_user, demo):
    from projects.models import Project

    other = Project.objects.create(key="LKA", name="Lane keeping")
    foreign = Hazard.objects.create(project=other, code="H-09", title="Drift")
    data = hara_data(demo, hazard=foreign.pk)
    html = as_user("erin").post(reverse("ui:hara", args=["AEB"]), data).content.decode()
    assert field_errors(html, "hazard") == [
        "Select a valid choice. That choice is not one of the available choices."
    ]


def test_the_asil_endpoint_answers_at_once(as_user, demo):
    client = as_user("vic")
    url = reverse("ui:asil")
    html = client.get(url, {"severity": "S3", "exposure": "E4", "controllability": "C3"})
    assert 'title="ASIL D"' in html.content.decode()
    html = client.get(url, {"severity": "S0", "exposure": "E4", "controllability": "C3"})
    assert 'title="ASIL QM"' in html.content.decode()
    incomplete = client.get(url, {"severity": "S3", "exposure": "E9"}).content.decode()
    assert "Choose S, E and C" in incomplete


def test_the_rating_selects_ask_for_the_asil(as_user, demo):
    html = as_user("erin").get(reverse("ui:hara", args=["AEB"])).content.decode()
    select = re.search(r'<select name="severity"[^>]*>', html).group(0)
    assert f'hx-get="{reverse("ui:asil")}"' in select
    assert 'hx-target="#asil-output"' in select


def test_editing_an_event_updates_the_goal_above_it(as_user, demo):
    event = HazardousEvent.objects.get(project=demo, code="HE-02")
    data = hara_data(demo, code="ignored", hazard=event.hazard_id, situation=event.situation_id)
    data.update(severity="S3", exposure="E4", controllability="C3")
    response = as_user("erin").post(reverse("ui:hazardous-event", args=["AEB", "HE-02"]), data)
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.code, event.asil) == ("HE-02", "D")


# --- Requirements ------------------------------------------------------------------------------


def test_an_asil_the_service_refuses_is_shown_beside_the_asil(as_user, demo):
    url = reverse("ui:requirement-edit", args=["AEB", "FSR-001"])
    data = {"title": "x", "text": "y", "asil": "B(A)", "status": "approved"}
    response = as_user("erin").post(url, data)
    assert response.status_code == 400
    (message,) = field_errors(response.content.decode(), "asil")
    assert "B(A)" in message and "notation" in message
    assert Requirement.objects.get(project=demo, code="FSR-001").version == 1


def test_editing_a_requirement_raises_its_version(as_user, demo):
    requirement = Requirement.objects.get(project=demo, code="FSR-001")
    data = {"title": requirement.title, "text": "Changed text.", "asil": "D", "status": "draft"}
    response = as_user("erin").post(reverse("ui:requirement-edit", args=["AEB", "FSR-001"]), data)
    assert response.status_code == 302
    requirement.refresh_from_db()
    assert (requirement.version, requirement.text) == (2, "Changed text.")
    page = as_user("vic").get(response["Location"]).content.decode()
    assert "<del>" in page and "Changed text." in page  # the version difference


def test_only_a_reviewer_approves_a_requirement_on_the_form(as_user, demo, people):
    from compliance.services import requirement_review

    requirement = Requirement.objects.get(project=demo, code="FSR-001")
    requirement_review(user=people["sam"], requirement=requirement, status="draft")
    url = reverse("ui:requirement-edit", args=["AEB", "FSR-001"])
    page = as_user("erin").get(reverse("ui:requirement", args=["AEB", "FSR-001"]))
    assert 'value="approved"' not in page.content.decode()  # not offered to an engineer
    data = {"title": requirement.title, "text": requirement.text, "asil": "D"}
    response = as_user("erin").post(url, {**data, "status": "approved"})
    assert response.status_code == 400
    assert field_errors(response.content.decode(), "status")
    requirement.refresh_from_db()
    assert requirement.status == "draft"
    assert as_user("sam").post(url, {**data, "status": "approved"}).status_code == 302
    requirement.refresh_from_db()
    assert requirement.status == "approved"
    # An engineer editing the text of an approved requirement leaves its status alone.
    response = as_user("erin").post(url, {**data, "text": "New.", "status": "approved"})
    assert response.status_code == 302


def test_clearing_a_suspect_link_needs_a_comment(as_user, demo):
    link = TraceLink.objects.filter(project=demo, suspect=True).select_related("source").first()
    url = reverse("ui:link-clear", args=["AEB", link.pk])
    response = as_user("sam").post(url, {f"l{link.pk}-comment": " ", "back": link.source.code})
    assert response.status_code == 400
    html = response.content.decode()
    assert field_errors(html, f"l{link.pk}-comment") == ["Say why the link still holds."]
    response = as_user("sam").post(
        url, {f"l{link.pk}-comment": "Reviewed: still holds.", "back": link.source.code}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("ui:requirement", args=["AEB", link.source.code])
    link.refresh_from_db()
    assert not link.suspect and link.cleared_comment == "Reviewed: still holds."


def test_clearing_a_link_twice_says_so(as_user, demo):
    link = TraceLink.objects.filter(project=demo, suspect=True).first()
    url = reverse("ui:link-clear", args=["AEB", link.pk])
    client = as_user("sam")
    client.post(url, {f"l{link.pk}-comment": "ok"})
    response = client.post(url, {f"l{link.pk}-comment": "ok"}, follow=True)
    assert "The link is not suspect." in response.content.decode()


# --- Campaign planner --------------------------------------------------------------------------


def test_planning_a_campaign(as_user, demo):
    space = ParameterSpace.objects.get(scenario__project=demo, name="CCRs-grid")
    data = {
        "name": "CCRs-only",
        "spaces": [space.pk],
        "criteria": [demo_criterion(demo, "AC-04")],
        "executor": "local",
        "cap": 40,
        "seed": 1,
        "shard_size": 20,
    }
    response = as_user("erin").post(reverse("ui:campaign-new", args=["AEB"]), data)
    assert response.status_code == 302
    campaign = Campaign.objects.get(project=demo, name="CCRs-only")
    assert (campaign.cap, campaign.shard_size) == (40, 20)
    assert response["Location"] == reverse("ui:campaign", args=["AEB", campaign.pk])


def demo_criterion(project, code):
    from compliance.models import AcceptanceCriterion

    return AcceptanceCriterion.objects.get(project=project, code=code).pk


def test_a_campaign_needs_spaces_and_a_free_name(as_user, demo):
    data = {"name": "AEB-demo", "executor": "local", "cap": 10, "seed": 0, "shard_size": 0}
    response = as_user("erin").post(reverse("ui:campaign-new", args=["AEB"]), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert field_errors(html, "name") == ["A campaign named AEB-demo exists already."]
    assert field_errors(html, "spaces") == ["Pick at least one parameter space."]
    assert field_errors(html, "criteria") == ["Pick at least one acceptance criterion."]
    assert field_errors(html, "shard_size") == ["Ensure this value is greater than or equal to 1."]


def test_sampling_a_parameter_space(as_user, demo):
    scenario = Scenario.objects.get(project=demo, name="CCRs")
    data = {
        "scenario": scenario.pk,
        "name": "CCRs-random",
        "method": "random",
        "ranges": '{"ego_speed": [10, 50], "initial_gap": [20, 60]}',
        "fixed": '{"scenario": "ccrs", "target_speed": 0}',
        "n": 12,
        "seed": 3,
    }
    response = as_user("erin").post(reverse("ui:space-new", args=["AEB"]), data)
    assert response.status_code == 302
    space = ParameterSpace.objects.get(scenario=scenario, name="CCRs-random")
    assert len(space.cases) == 12 and space.cases[0]["scenario"] == "ccrs"


@pytest.mark.parametrize(
    "ranges,message",
    [
        ("{not json", "Not valid JSON"),
        ("[1, 2]", "Give the ranges as a JSON object {...}."),
        ("[" * 100_000 + "]" * 100_000, "The JSON is nested more than 64 levels deep."),
        ('{"ego_speed": "fast"}', "'fast': use [low, high], [low, high, step]"),
    ],
)
def test_bad_ranges_are_shown_beside_the_ranges(as_user, demo, ranges, message):
    """The first three are the form's checks; the last is the service's own rule."""
    scenario = Scenario.objects.get(project=demo, name="CCRs")
    data = {"scenario": scenario.pk, "name": "x", "method": "grid", "ranges": ranges, "n": 5}
    data["seed"] = 0
    response = as_user("erin").post(reverse("ui:space-new", args=["AEB"]), data)
    assert response.status_code == 400
    (error,) = field_errors(response.content.decode(), "ranges")
    assert message in error.replace("&#x27;", "'")


# --- Baselines ---------------------------------------------------------------------------------


def test_freezing_a_baseline_and_a_taken_name(as_user, demo):
    url = reverse("ui:baseline-freeze", args=["AEB"])
    assert as_user("sam").post(url, {"name": "v1.1"}).status_code == 302
    assert Baseline.objects.filter(project=demo, name="v1.1").exists()
    response = as_user("sam").post(url, {"name": "v1.1"})
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    assert field_errors(html, "name") == ["A baseline named 'v1.1' exists already."]


def test_the_difference_between_two_baselines(as_user, demo, people):
    from compliance.services import baseline_freeze, requirement_update

    requirement = Requirement.objects.get(project=demo, code="FSR-010")
    requirement_update(user=people["erin"], requirement=requirement, text="New wording.")
    baseline_freeze(user=people["sam"], project=demo, name="v1.1")
    response = as_user("vic").get(
        reverse("ui:baselines", args=["AEB"]), {"old": "v1.0-demo", "new": "v1.1"}
    )
    html = response.content.decode()
    assert "From v1.0-demo to v1.1" in html
    assert "<h4>requirement:FSR-010</h4>" in html
    assert "<ins>New wording.</ins>" in html
