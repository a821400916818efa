"""The authoring pages: the item and its ODD, hazards, situations, hazardous events, safety
goals, trace links, decompositions, triggering conditions and scenario files.

Each page: an editor gets the form and the write lands through the service with its ledger
entry; a viewer gets the same page read-only and a styled 403 on a write, naming the rule;
bad input is refused beside the field and writes nothing."""

from __future__ import annotations

import pytest

from compliance.models import (
    Hazard,
    ItemDefinition,
    OperationalSituation,
    Requirement,
    SafetyGoal,
    TraceLink,
    TriggeringCondition,
)
from evidence.models import LogEntry
from evidence.selectors import statement_of


@pytest.fixture
def entries(demo):
    """How many ledger entries the demo project has now; call again to compare."""
    return lambda: LogEntry.objects.filter(project=demo).count()


def _html(response) -> str:
    return response.content.decode()


# --- Item and ODD ------------------------------------------------------------------------------


def test_an_engineer_sets_the_item_with_odd_tags(as_user, demo, entries):
    before = entries()
    response = as_user("erin").post(
        "/p/AEB/item/",
        {
            "function": "Brakes automatically before a frontal collision.",
            "odd": "Public roads, dry and wet asphalt.",
            "odd_tags": ["surface:dry", "surface:wet", "road:urban"],
        },
    )
    assert response.status_code == 302, _html(response)[:800]
    item = ItemDefinition.objects.get(project=demo)
    assert item.odd_tags == ["road:urban", "surface:dry", "surface:wet"]
    assert entries() == before + 1
    entry = LogEntry.objects.filter(project=demo).order_by("-index").first()
    assert statement_of(entry)["predicate"]["content"]["odd_tags"] == item.odd_tags
    page = _html(as_user("vic").get("/p/AEB/item/"))
    assert "surface: dry, wet" in page and "road: urban" in page
    assert "Save the item" not in page  # the viewer reads, without a form


def test_a_tag_outside_the_taxonomy_is_refused_and_nothing_changes(as_user, demo, entries):
    before, item = entries(), ItemDefinition.objects.get(project=demo)
    response = as_user("erin").post(
        "/p/AEB/item/", {"function": "changed", "odd_tags": ["surface:lava"]}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in _html(response)
    assert ItemDefinition.objects.get(project=demo).function == item.function
    assert entries() == before


def test_the_service_names_the_dimension_of_an_unknown_tag():
    from django.core.exceptions import ValidationError

    from compliance.odd import clean_tags

    with pytest.raises(ValidationError) as refused:
        clean_tags(["surface:lava"])
    assert "surface takes dry, wet, snow, ice" in str(refused.value)


def test_a_viewer_posting_the_item_gets_the_styled_403_with_the_reason(as_user, demo, entries):
    before = entries()
    response = as_user("vic").post("/p/AEB/item/", {"function": "x"})
    assert response.status_code == 403
    page = _html(response)
    assert "403 · Not allowed" in page and "The role viewer may not edit in AEB." in page
    assert 'class="sections"' not in page or "Safecase" in page  # the site's frame
    assert entries() == before


# --- Hazards and situations ----------------------------------------------------------------------


def test_an_engineer_adds_and_edits_a_hazard(as_user, demo, entries):
    client, before = as_user("erin"), entries()
    response = client.post(
        "/p/AEB/hazards/new/", {"hazard-code": "H-09", "hazard-title": "Late warning"}
    )
    assert response.status_code == 302
    response = client.post(
        "/p/AEB/hazards/H-09/", {"title": "Warning too late", "description": "below 1 s TTC"}
    )
    assert response.status_code == 302, _html(response)[:800]
    hazard = Hazard.objects.get(project=demo, code="H-09")
    assert (hazard.title, hazard.description) == ("Warning too late", "below 1 s TTC")
    assert entries() == before + 2


def test_a_duplicate_hazard_code_is_refused_beside_the_field(as_user, demo, entries):
    before = entries()
    response = as_user("erin").post(
        "/p/AEB/hazards/new/", {"hazard-code": "H-01", "hazard-title": "again"}
    )
    assert response.status_code == 400
    assert "already exists" in _html(response)
    assert Hazard.objects.get(project=demo, code="H-01").title != "again"
    assert entries() == before


def test_an_engineer_adds_and_edits_a_situation(as_user, demo, entries):
    client, before = as_user("erin"), entries()
    assert (
        client.post(
            "/p/AEB/situations/new/", {"os-code": "OS-09", "os-description": "Car park"}
        ).status_code
        == 302
    )
    response = client.post("/p/AEB/situations/OS-09/", {"description": "Car park, 10 km/h"})
    assert response.status_code == 302
    assert OperationalSituation.objects.get(project=demo, code="OS-09").description.endswith(
        "10 km/h"
    )
    assert entries() == before + 2


def test_a_viewer_reads_a_hazard_but_may_not_change_it(as_user, demo, entries):
    client, before = as_user("vic"), entries()
    page = _html(client.get("/p/AEB/hazards/H-01/"))
    assert "Unintended full braking" in page and "HE-01" in page and "<form method" not in page
    assert "Add the hazard" not in _html(client.get("/p/AEB/hazards/"))
    assert client.post("/p/AEB/hazards/H-01/", {"title": "x"}).status_code == 403
    assert client.post("/p/AEB/hazards/new/", {"hazard-code": "H-10"}).status_code == 403
    assert entries() == before


def test_a_hazard_of_another_project_is_not_found(as_user, stranger):
    from django.test import Client

    client = Client()
    client.force_login(stranger)
    response = client.get("/p/AEB/hazards/H-01/")
    assert response.status_code == 404
    assert "404 · Not found" in _html(response) and "No such project." in _html(response)
    assert as_user("vic").get("/p/AEB/hazards/H-99/").status_code == 404


# --- Hazardous events: readable by every role -------------------------------------------------


@pytest.mark.parametrize("username", ["vic", "ada"])
def test_every_role_reads_a_hazardous_event(as_user, username):
    response = as_user(username).get("/p/AEB/hara/HE-01/")
    assert response.status_code == 200
    page = _html(response)
    assert "Rating" in page and "SG-01" in page and "Change the rating" not in page


def test_an_engineer_still_gets_the_rating_form(as_user):
    assert "Change the rating" in _html(as_user("erin").get("/p/AEB/hara/HE-01/"))


# --- Safety goals --------------------------------------------------------------------------------


def test_an_engineer_creates_a_goal_whose_asil_comes_from_its_events(as_user, demo, entries):
    before = entries()
    response = as_user("erin").post(
        "/p/AEB/goals/new/",
        {"code": "SG-09", "text": "Avoid a late warning", "ftti_ms": "200", "events": ["HE-01"]},
    )
    assert response.status_code == 302, _html(response)[:800]
    goal = SafetyGoal.objects.get(project=demo, code="SG-09")
    assert goal.asil == goal.events.get().asil and goal.ftti_ms == 200
    assert entries() == before + 1
    page = _html(as_user("vic").get("/p/AEB/goals/SG-09/"))
    assert "Avoid a late warning" in page and "HE-01" in page


def test_a_goal_without_text_is_refused(as_user, demo, entries):
    before = entries()
    response = as_user("erin").post("/p/AEB/goals/new/", {"code": "SG-10", "text": ""})
    assert response.status_code == 400
    assert not SafetyGoal.objects.filter(project=demo, code="SG-10").exists()
    assert entries() == before


def test_a_viewer_gets_the_goal_list_without_the_form(as_user):
    page = _html(as_user("vic").get("/p/AEB/goals/"))
    assert "SG-01" in page and "Add a safety goal" not in page
    assert as_user("vic").post("/p/AEB/goals/new/", {"code": "SG-11"}).status_code == 403


# --- Trace links ---------------------------------------------------------------------------------


def _new_requirement(demo, people, code, asil, kind="TSR"):
    from compliance import services

    return services.requirement_create(
        user=people["erin"], project=demo, code=code, kind=kind, text=code, asil=asil
    )


def test_an_engineer_links_and_unlinks_a_requirement(as_user, demo, people, entries):
    _new_requirement(demo, people, "TSR-090", "QM")
    client, before = as_user("erin"), entries()
    page = _html(client.get("/p/AEB/requirements/TSR-090/"))
    assert "The link rules:" in page and "never form a cycle" in page
    response = client.post(
        "/p/AEB/requirements/TSR-090/links/new/",
        {"link-kind": "verifies", "link-target": "FSR-001"},
    )
    assert response.status_code == 302, _html(response)[:800]
    link = TraceLink.objects.get(source__code="TSR-090", project=demo)
    assert entries() == before + 1
    assert client.post(f"/p/AEB/links/{link.pk}/remove/", {}).status_code == 400  # no reason
    response = client.post(f"/p/AEB/links/{link.pk}/remove/", {f"rm{link.pk}-reason": "wrong"})
    assert response.status_code == 302
    assert not TraceLink.objects.filter(pk=link.pk).exists()
    entry = LogEntry.objects.filter(project=demo).order_by("-index").first()
    assert statement_of(entry)["predicate"]["action"] == "remove"
    assert statement_of(entry)["predicate"]["content"]["reason"] == "wrong"
    assert entries() == before + 2


def test_a_link_that_lowers_the_asil_is_refused_with_the_rule(as_user, demo, people, entries):
    _new_requirement(demo, people, "TSR-091", "A")
    before = entries()
    response = as_user("erin").post(
        "/p/AEB/requirements/TSR-091/links/new/",
        {"link-kind": "derives-from", "link-target": "FSR-001"},
    )
    assert response.status_code == 400
    assert "decomposition" in _html(response)
    assert not TraceLink.objects.filter(source__code="TSR-091").exists()
    assert entries() == before


def test_a_link_to_nothing_names_the_code(as_user, demo, people):
    _new_requirement(demo, people, "TSR-092", "QM")
    response = as_user("erin").post(
        "/p/AEB/requirements/TSR-092/links/new/",
        {"link-kind": "derives-from", "link-target": "SG-77"},
    )
    assert response.status_code == 400
    assert "No safety goal or requirement &#x27;SG-77&#x27; here." in _html(response)


def test_a_viewer_sees_no_link_form_and_may_not_remove(as_user, demo, entries):
    page = _html(as_user("vic").get("/p/AEB/requirements/TSR-001/"))
    assert "Add a trace link" not in page and "Remove the link" not in page
    link = TraceLink.objects.filter(project=demo).first()
    before = entries()
    response = as_user("vic").post(f"/p/AEB/links/{link.pk}/remove/", {"reason": "x"})
    assert response.status_code == 403
    assert TraceLink.objects.filter(pk=link.pk).exists() and entries() == before


def test_a_decomposition_link_stays(as_user, demo):
    link = TraceLink.objects.get(
        project=demo, source__code="TSR-001", target_requirement__code="FSR-001"
    )
    response = as_user("erin").post(
        f"/p/AEB/links/{link.pk}/remove/", {f"rm{link.pk}-reason": "tidy"}
    )
    assert response.status_code == 400
    assert "part of that decomposition" in _html(response)
    assert TraceLink.objects.filter(pk=link.pk).exists()


def test_the_api_removes_a_link_through_the_same_service(as_user, demo, people, entries):
    _new_requirement(demo, people, "TSR-097", "QM")
    from compliance import services

    link = services.link_create(
        user=people["erin"],
        project=demo,
        source=Requirement.objects.get(project=demo, code="TSR-097"),
        kind="verifies",
        target_requirement=Requirement.objects.get(project=demo, code="FSR-001"),
    )
    url, before = f"/api/v1/projects/AEB/links/{link.pk}/remove/", entries()
    assert as_user("vic").post(url, {"reason": "x"}, "application/json").status_code == 403
    response = as_user("erin").post(url, {"reason": ""}, "application/json")
    assert response.status_code == 400 and "reason" in response.json()
    assert TraceLink.objects.filter(pk=link.pk).exists() and entries() == before
    response = as_user("erin").post(url, {"reason": "verified elsewhere"}, "application/json")
    assert response.status_code == 204
    assert not TraceLink.objects.filter(pk=link.pk).exists() and entries() == before + 1
    assert as_user("erin").post(url, {"reason": "again"}, "application/json").status_code == 404


# --- Decomposition links its children ----------------------------------------------------------


def test_a_decomposition_links_both_children_to_the_parent(as_user, demo, people, entries):
    parent = _new_requirement(demo, people, "FSR-090", "D", kind="FSR")
    _new_requirement(demo, people, "TSR-093", "B(D)")
    _new_requirement(demo, people, "TSR-094", "B(D)")
    before = entries()
    response = as_user("erin").post(
        "/p/AEB/requirements/FSR-090/decompose/",
        {
            "first": "TSR-093",
            "second": "TSR-094",
            "elements": "two channels",
            "dependent_failure_analysis": "DFA-09",
        },
    )
    assert response.status_code == 302, _html(response)[:800]
    children = TraceLink.objects.filter(target_requirement=parent, kind="derives-from")
    assert sorted(children.values_list("source__code", flat=True)) == ["TSR-093", "TSR-094"]
    assert entries() == before + 3  # the decision and the two links


def test_a_bad_decomposition_links_nothing(as_user, demo, people, entries):
    parent = _new_requirement(demo, people, "FSR-091", "D", kind="FSR")
    _new_requirement(demo, people, "TSR-095", "A(D)")
    _new_requirement(demo, people, "TSR-096", "A(D)")
    before = entries()
    response = as_user("erin").post(
        "/p/AEB/requirements/FSR-091/decompose/",
        {
            "first": "TSR-095",
            "second": "TSR-096",
            "elements": "x",
            "dependent_failure_analysis": "y",
        },
    )
    assert response.status_code == 400
    assert not TraceLink.objects.filter(target_requirement=parent).exists()
    assert entries() == before


# --- Triggering conditions -------------------------------------------------------------------


def test_an_engineer_adds_a_triggering_condition(as_user, demo, entries):
    before = entries()
    response = as_user("erin").post(
        "/p/AEB/sotif/conditions/new/",
        {"tc-code": "TC-09", "tc-description": "Tunnel exit glare", "tc-area": "3"},
    )
    assert response.status_code == 302
    assert TriggeringCondition.objects.get(project=demo, code="TC-09").area == 3
    assert entries() == before + 1
    assert "New triggering condition" not in _html(as_user("vic").get("/p/AEB/sotif/"))


def test_a_condition_without_description_is_refused(as_user, demo):
    response = as_user("erin").post("/p/AEB/sotif/conditions/new/", {"tc-code": "TC-10"})
    assert response.status_code == 400
    assert not TriggeringCondition.objects.filter(project=demo, code="TC-10").exists()


# --- Scenario files --------------------------------------------------------------------------


def test_an_engineer_uploads_an_openscenario_file(as_user, demo, entries):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.shared_data import shared_path
    from validation.models import Scenario

    folder = shared_path("data", "real")
    found = sorted(folder.rglob("*.xosc"))
    if not found:
        pytest.skip("no OpenSCENARIO file in ../shared/data/real")
    source = next((f for f in found if "Catalog" not in f.read_text(errors="ignore")), found[0])
    before, scenarios = entries(), Scenario.objects.filter(project=demo).count()
    upload = SimpleUploadedFile(source.name, source.read_bytes())
    response = as_user("erin").post("/p/AEB/scenarios/upload/", {"file": upload})
    if response.status_code == 400:  # a file needing its catalogs: refused with its name
        assert source.name in _html(response)
        assert entries() == before
        return
    assert response.status_code == 200, _html(response)[:800]
    assert "Imported" in _html(response)
    assert Scenario.objects.filter(project=demo).count() > scenarios and entries() > before


def test_a_broken_scenario_file_is_refused_by_its_name(as_user, demo, entries):
    from django.core.files.uploadedfile import SimpleUploadedFile

    before = entries()
    upload = SimpleUploadedFile("cut-in.xosc", b"<OpenSCENARIO><broken")
    response = as_user("erin").post("/p/AEB/scenarios/upload/", {"file": upload})
    assert response.status_code == 400
    assert "cut-in.xosc" in _html(response)
    assert entries() == before


def test_a_viewer_lists_scenarios_without_the_upload(as_user):
    page = _html(as_user("vic").get("/p/AEB/scenarios/"))
    assert "Upload an OpenSCENARIO file" not in page


# --- The site's frame --------------------------------------------------------------------------


def test_an_unknown_page_gets_the_styled_404(as_user):
    response = as_user("vic").get("/p/AEB/nothing-here/")
    assert response.status_code == 404
    assert "404 · Not found" in _html(response)


def test_the_favicon(as_user):
    response = as_user().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("ui/favicon.svg")
    assert 'rel="icon"' in _html(as_user("vic").get("/p/AEB/"))


def test_the_api_403_keeps_its_json(as_user, demo):
    response = as_user("vic").post(
        "/api/v1/projects/AEB/hazards/", {"code": "H-99", "title": "x"}, "application/json"
    )
    assert response.status_code == 403
    assert response.json()["detail"]


# --- Query counts --------------------------------------------------------------------------------

# 4 for the session, the user, the project and the role; then the page's own reads.
AUTHORING_PAGES = [
    ("/p/AEB/item/", 5),  # the item
    ("/p/AEB/hazards/", 6),  # hazards, situations
    ("/p/AEB/hazards/H-01/", 6),  # the hazard, its events
    ("/p/AEB/situations/OS-01/", 6),  # the situation, its events
    ("/p/AEB/goals/", 7),  # goals, their events, the form's events
    ("/p/AEB/goals/SG-01/", 8),  # the goal, its events, links, criteria
    ("/p/AEB/scenarios/", 7),  # the scenarios, their requirements and spaces
]


@pytest.mark.parametrize("url,queries", AUTHORING_PAGES)
def test_query_count(as_user, demo, django_assert_num_queries, url, queries):
    client = as_user("sam")  # every form on the page
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200
