"""Creating a requirement from the tree page, linked to its parent in one step."""

from compliance.models import Requirement, TraceLink
from evidence.models import LogEntry


def test_an_engineer_creates_a_requirement_under_a_goal(as_user, demo):
    response = as_user("erin").post(
        "/p/AEB/requirements/new/",
        {"code": "FSR-030", "kind": "FSR", "title": "Brake", "asil": "D", "parent": "SG-01"},
    )
    assert response.status_code == 302
    requirement = Requirement.objects.get(project=demo, code="FSR-030")
    assert TraceLink.objects.get(source=requirement).target_goal.code == "SG-01"
    assert LogEntry.objects.filter(project=demo, subject="requirement:FSR-030").exists()


def test_a_refused_link_leaves_no_requirement_and_shows_the_error(as_user, demo):
    before = LogEntry.objects.filter(project=demo).count()
    response = as_user("erin").post(
        "/p/AEB/requirements/new/",
        {"code": "TSR-090", "kind": "TSR", "asil": "B", "parent": "FSR-001"},
    )
    assert response.status_code == 400
    assert "decomposition" in response.content.decode()
    assert not Requirement.objects.filter(project=demo, code="TSR-090").exists()
    assert LogEntry.objects.filter(project=demo).count() == before


def test_bad_asil_is_shown_beside_the_field(as_user, demo):
    response = as_user("erin").post(
        "/p/AEB/requirements/new/", {"code": "FSR-031", "kind": "FSR", "asil": "B(A)"}
    )
    assert response.status_code == 400
    assert 'id="id_asil_errors"' in response.content.decode()
    assert not Requirement.objects.filter(project=demo, code="FSR-031").exists()


def test_a_viewer_cannot_create(as_user, demo):
    assert (
        as_user("vic")
        .post("/p/AEB/requirements/new/", {"code": "FSR-032", "kind": "FSR", "asil": "QM"})
        .status_code
        == 403
    )
    assert "New requirement" not in as_user("vic").get("/p/AEB/requirements/").content.decode()
    assert "New requirement" in as_user("erin").get("/p/AEB/requirements/").content.decode()
