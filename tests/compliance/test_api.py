"""The safety case over REST: happy paths, 400 naming the rule, 403 and 404 for what a role
may not do or see. Every route's 401, 403 and 404 per role:
``tests/config/test_access_sweep.py``."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance import iso26262, services
from compliance.models import HazardousEvent, Requirement
from evidence.models import LogEntry

pytestmark = pytest.mark.django_db
BASE = "/api/v1/projects/AEB"


@pytest.fixture
def hara(api, project, members):
    client = api(members["engineer"])
    assert (
        client.post(
            f"{BASE}/hazards/", {"code": "H-01", "title": "Unintended braking"}, format="json"
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"{BASE}/situations/", {"code": "OS-01", "description": "Motorway"}, format="json"
        ).status_code
        == 201
    )
    return client


EVENT = {
    "code": "HE-01",
    "hazard": "H-01",
    "situation": "OS-01",
    "severity": "S3",
    "exposure": "E4",
    "controllability": "C3",
    "severity_rationale": "fatal",
    "exposure_rationale": "every drive",
    "controllability_rationale": "<90% avoid",
}


def test_an_engineer_adds_a_hazardous_event_and_sees_its_asil(hara):
    response = hara.post(f"{BASE}/hazardous-events/", EVENT, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["asil"] == "D"
    response = hara.patch(f"{BASE}/hazardous-events/HE-01/", {"exposure": "E2"}, format="json")
    assert response.json()["asil"] == "B"


def test_an_invalid_class_is_400_naming_the_field_and_the_rule(hara, project):
    before = LogEntry.objects.filter(project=project).count()
    response = hara.post(f"{BASE}/hazardous-events/", {**EVENT, "exposure": "E7"}, format="json")
    assert response.status_code == 400
    assert "exposure" in response.json()
    assert "E0, E1, E2, E3, E4" in response.json()["exposure"][0]
    assert not HazardousEvent.objects.exists()
    assert LogEntry.objects.filter(project=project).count() == before


def test_a_hazard_of_another_project_cannot_be_referenced(api, hara, other_project, outsider):
    services.hazard_create(user=outsider, project=other_project, code="H-77", title="x")
    response = hara.post(f"{BASE}/hazardous-events/", {**EVENT, "hazard": "H-77"}, format="json")
    assert response.status_code == 400
    assert "hazard" in response.json()


def test_requirements_links_and_decompositions(api, project, members):
    client = api(members["engineer"])
    for code, asil in (("FSR-001", "D"), ("TSR-001", "B(D)"), ("TSR-002", "B(D)")):
        kind = code.split("-")[0]
        assert (
            client.post(
                f"{BASE}/requirements/",
                {"code": code, "kind": kind, "asil": asil, "text": "shall"},
                format="json",
            ).status_code
            == 201
        )
    drop = client.post(
        f"{BASE}/links/",
        {"source": "TSR-001", "kind": "derives-from", "target_requirement": "FSR-001"},
        format="json",
    )
    assert drop.status_code == 400
    assert "decomposition" in str(drop.json())
    bad = client.post(
        f"{BASE}/decompositions/",
        {
            "parent": "FSR-001",
            "first": "TSR-001",
            "second": "TSR-001",
            "elements": "e",
            "dependent_failure_analysis": "d",
        },
        format="json",
    )
    assert bad.status_code == 400
    ok = client.post(
        f"{BASE}/decompositions/",
        {
            "parent": "FSR-001",
            "first": "TSR-001",
            "second": "TSR-002",
            "elements": "camera and radar paths",
            "dependent_failure_analysis": "DFA-01",
        },
        format="json",
    )
    assert ok.status_code == 201, ok.json()
    for tsr in ("TSR-001", "TSR-002"):
        response = client.post(
            f"{BASE}/links/",
            {"source": tsr, "kind": "derives-from", "target_requirement": "FSR-001"},
            format="json",
        )
        assert response.status_code == 201
    response = client.patch(f"{BASE}/requirements/FSR-001/", {"text": "changed"}, format="json")
    assert response.json()["version"] == 2
    suspect = client.get(f"{BASE}/links/?suspect=1").json()
    assert suspect["count"] == 2
    link_id = suspect["results"][0]["id"]
    assert (
        client.post(f"{BASE}/links/{link_id}/clear/", {"comment": "ok"}, format="json").status_code
        == 403
    )
    manager = api(members["safety_manager"])
    assert (
        manager.post(
            f"{BASE}/links/{link_id}/clear/", {"comment": "still holds"}, format="json"
        ).status_code
        == 200
    )
    assert client.get(f"{BASE}/links/?suspect=1").json()["count"] == 1


def test_requirement_filters(api, project, members):
    for code, kind, asil in (("FSR-1", "FSR", "D"), ("TSR-1", "TSR", "B(D)"), ("SW-1", "SW", "B")):
        services.requirement_create(
            user=members["engineer"], project=project, code=code, kind=kind, asil=asil
        )
    client = api(members["viewer"])
    codes = lambda q: [r["code"] for r in client.get(f"{BASE}/requirements/?{q}").json()["results"]]  # noqa: E731
    assert codes("kind=TSR") == ["TSR-1"]
    assert codes("asil=B") == ["SW-1", "TSR-1"]
    assert codes("asil=B(D)") == ["TSR-1"]
    assert codes("coverage=unverified") == ["FSR-1", "SW-1", "TSR-1"]


def test_invalid_asil_is_400(api, project, members):
    response = api(members["engineer"]).post(
        f"{BASE}/requirements/", {"code": "FSR-1", "kind": "FSR", "asil": "B(A)"}, format="json"
    )
    assert response.status_code == 400
    assert "asil" in response.json()
    assert not Requirement.objects.exists()


def test_baselines_and_diff(api, project, members):
    services.requirement_create(
        user=members["engineer"], project=project, code="FSR-1", kind="FSR", asil="D"
    )
    manager = api(members["safety_manager"])
    assert manager.post(f"{BASE}/baselines/", {"name": "v1"}, format="json").status_code == 201
    services.requirement_create(
        user=members["engineer"], project=project, code="FSR-2", kind="FSR", asil="C"
    )
    assert manager.post(f"{BASE}/baselines/", {"name": "v2"}, format="json").status_code == 201
    diff = manager.get(f"{BASE}/baselines/diff/?from=v1&to=v2").json()
    assert diff["added"] == ["requirement:FSR-2"]
    assert manager.get(f"{BASE}/baselines/diff/?from=v1").status_code == 400
    assert manager.get(f"{BASE}/baselines/diff/?from=v1&to=nope").status_code == 404


def test_approval_by_the_author_is_400(api, project, members):
    response = api(members["safety_manager"]).post(
        f"{BASE}/approvals/",
        {
            "measure": "hara",
            "work_product": "HARA v1",
            "author": members["safety_manager"].username,
            "asil": "D",
            "outcome": "confirmed",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "reviewer is the author" in response.json()["reviewer"][0]


def test_confirmation_matrix_keeps_dash_distinct_from_i0(api, project, members):
    data = api(members["viewer"]).get(f"{BASE}/confirmation-matrix/").json()
    assert data["edition"] == iso26262.TABLE1_EDITION  # the edition the matrix follows
    assert data["measures"]["functional_safety_audit"]["A"] == "\u2014"
    assert data["measures"]["functional_safety_audit"]["B"] == "I0"
    assert data["measures"]["hara"] == {"QM": "I3", "A": "I3", "B": "I3", "C": "I3", "D": "I3"}


def test_acceptance_criterion_target_through_the_api(api, project, members):
    response = api(members["engineer"]).post(
        f"{BASE}/acceptance-criteria/",
        {
            "code": "AC-02",
            "description": "stopped vehicle",
            "unit": "cases",
            "allowed_failure_probability": 0.001,
            "confidence": 0.95,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["validation_target"] == 2995


def _matrix_project(project, user, n):
    goal = services.safety_goal_save(user=user, project=project, code="SG-01", text="goal")
    for i in range(n):
        r = services.requirement_create(
            user=user, project=project, code=f"FSR-{i:03d}", kind="FSR", asil="QM"
        )
        services.link_create(
            user=user, project=project, source=r, kind="satisfies", target_goal=goal
        )


def test_traceability_query_count_does_not_grow_with_page_size(api, project, members):
    _matrix_project(project, members["engineer"], 30)
    counts = []
    for limit in (3, 30):
        viewer = type(members["viewer"]).objects.get(pk=members["viewer"].pk)  # a fresh request
        client = api(viewer)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{BASE}/traceability/?limit={limit}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == limit
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    assert counts[0] <= 10


def test_traceability_csv_export(api, project, members):
    _matrix_project(project, members["engineer"], 3)
    services.requirement_create(
        user=members["engineer"],
        project=project,
        code="SW-1",
        kind="SW",
        title="=cmd|' /C calc'!A0",
        asil="QM",
    )
    response = api(members["viewer"]).get(f"{BASE}/traceability/?export=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["code", "kind", "asil"]
    assert rows[1][0] == "FSR-000" and rows[1][6] == "satisfies:SG-01"
    assert rows[-1][5].startswith("'=")  # a formula is neutralised


def test_the_traceability_verification_column_follows_each_history(api, project, members):
    """Each row's verification state, in the pages and the CSV export, against histories of
    every shape: a pass then a fail (the latest counts), a pass gone stale after a change, a
    stale one followed by a new pass, and none."""
    engineer = members["engineer"]
    _matrix_project(project, engineer, 4)
    reqs = {r.code: r for r in Requirement.objects.filter(project=project)}

    def record(code, result):
        services.verification_record(
            user=engineer, project=project, requirement=reqs[code], method="test", result=result
        )

    def reword(code):
        reqs[code] = services.requirement_update(
            user=engineer, requirement=reqs[code], text=reqs[code].text + " Reworded."
        )

    record("FSR-000", "pass")
    record("FSR-000", "fail")
    record("FSR-001", "pass")
    reword("FSR-001")
    record("FSR-002", "fail")
    reword("FSR-002")
    record("FSR-002", "pass")
    expected = {"FSR-000": "fail", "FSR-001": "stale", "FSR-002": "pass", "FSR-003": "none"}
    client = api(members["viewer"])
    page = client.get(f"{BASE}/traceability/?limit=2&offset=2").json()["results"]
    first = client.get(f"{BASE}/traceability/?limit=2").json()["results"]
    assert {row["code"]: row["verification"] for row in first + page} == expected
    exported = list(
        csv.reader(io.StringIO(client.get(f"{BASE}/traceability/?export=csv").content.decode()))
    )
    column = exported[0].index("verification")
    assert {row[0]: row[column] for row in exported[1:]} == expected


def test_the_traceability_export_says_what_the_pages_say(api, project, members):
    """The CSV export (values, two queries) and the API's pages (the serializer over models)
    give every row the same cells: parents up to a goal and to requirements, children, a link
    turned suspect, verification states and a neutralised formula."""
    engineer = members["engineer"]
    _matrix_project(project, engineer, 3)
    reqs = {r.code: r for r in Requirement.objects.filter(project=project)}
    tsr = services.requirement_create(
        user=engineer, project=project, code="TSR-1", kind="TSR", title="=1+1", asil="QM"
    )
    for parent in ("FSR-000", "FSR-001"):
        services.link_create(
            user=engineer,
            project=project,
            source=tsr,
            kind="derives-from",
            target_requirement=reqs[parent],
        )
    services.requirement_update(user=engineer, requirement=reqs["FSR-000"], text="Reworded.")
    services.verification_record(
        user=engineer, project=project, requirement=tsr, method="test", result="pass"
    )
    client = api(members["viewer"])
    pages = client.get(f"{BASE}/traceability/?limit=2").json()["results"]
    pages += client.get(f"{BASE}/traceability/?limit=2&offset=2").json()["results"]
    text = client.get(f"{BASE}/traceability/?export=csv").content.decode()
    exported = list(csv.reader(io.StringIO(text)))
    header, body = exported[0], exported[1:]
    shown = {
        row["code"]: [
            str(row[c]) if c != "title" or not str(row[c]).startswith("=") else "'" + row[c]
            for c in ("code", "kind", "asil", "status", "version", "title")
        ]
        + [
            " ".join(row["parents"]),
            " ".join(row["children"]),
            row["verification"],
            "yes" if row["suspect"] else "no",
        ]
        for row in pages
    }
    assert header[-4:] == ["parents", "children", "verification", "suspect"]
    assert {row[0]: row for row in body} == shown
    assert shown["TSR-1"][6] == "derives-from:FSR-000 derives-from:FSR-001"
    assert shown["TSR-1"][9] == "yes" and shown["FSR-002"][9] == "no"
    assert shown["FSR-000"][7] == "derives-from:TSR-1"


def test_gap_analysis_endpoint(api, project, members):
    services.requirement_create(
        user=members["engineer"], project=project, code="FSR-1", kind="FSR", asil="C"
    )
    data = api(members["viewer"]).get(f"{BASE}/gaps/").json()
    assert data["without_parent"]["by_asil"]["C"] == 1
    assert data["release_ready"] is False
