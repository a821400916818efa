"""The error answers the OpenAPI schema documents: 409 for a duplicate, 400 for a malformed
page or filter, JSON 404 for an unknown API URL, and the ASIL notations the schema enumerates."""

import itertools

import pytest

from compliance import iso26262

pytestmark = pytest.mark.django_db
BASE = "/api/v1/projects/AEB"


def test_a_duplicate_code_is_409_naming_the_rule(api, project, members):
    client = api(members["engineer"])
    hazard = {"code": "H-01", "title": "Unintended braking"}
    assert client.post(f"{BASE}/hazards/", hazard, format="json").status_code == 201
    response = client.post(f"{BASE}/hazards/", hazard, format="json")
    assert response.status_code == 409
    assert "already exists" in str(response.json())


def test_a_duplicate_baseline_name_is_409_naming_the_field(api, project, members):
    client = api(members["safety_manager"])
    assert client.post(f"{BASE}/baselines/", {"name": "v1"}, format="json").status_code == 201
    response = client.post(f"{BASE}/baselines/", {"name": "v1"}, format="json")
    assert response.status_code == 409
    assert "name" in response.json()


def test_another_refusal_stays_400(api, project, members):
    response = api(members["engineer"]).post(f"{BASE}/hazards/", {"code": "h1"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"code", "title"}


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "offset=-1", "offset=1.5"])
def test_a_malformed_page_is_400_naming_the_parameter(api, project, members, query):
    response = api(members["viewer"]).get(f"{BASE}/hazards/?{query}")
    assert response.status_code == 400
    assert set(response.json()) == {query.split("=")[0]}


@pytest.mark.parametrize(
    "query", ["kind=XYZ", "status=done", "asil=E", "asil=B(A)", "coverage=all", "export=pdf"]
)
def test_an_unknown_filter_value_is_400(api, project, members, query):
    response = api(members["viewer"]).get(f"{BASE}/traceability/?{query}")
    assert response.status_code == 400
    assert set(response.json()) == {query.split("=")[0]}


def test_an_empty_filter_filters_nothing(api, project, members):
    response = api(members["viewer"]).get(f"{BASE}/requirements/?kind=&asil=")
    assert response.status_code == 200


def test_an_unknown_api_url_is_a_json_404(api, members):
    response = api(members["viewer"]).get("/api/v1/projects/AEB/runs/-1/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_the_schema_enumerates_exactly_the_notations_parse_asil_accepts():
    candidates = {
        level if original is None else f"{level}({original})"
        for level, original in itertools.product(
            iso26262.ASIL_LEVELS, (None, *iso26262.ASIL_LEVELS)
        )
    }
    accepted = set()
    for text in candidates:
        try:
            iso26262.parse_asil(text)
        except ValueError:
            continue
        accepted.add(text)
    assert set(iso26262.ASIL_NOTATIONS) == accepted
    assert len(iso26262.ASIL_NOTATIONS) == len(accepted) == 19


@pytest.mark.parametrize(
    "body,field",
    [
        ({"code": "H-01", "title": 7}, "title"),
        ({"code": ["H-01"], "title": "Braking"}, "code"),
        ({"code": "H-01", "title": "Braking", "description": True}, "description"),
    ],
)
def test_a_body_value_of_the_wrong_json_type_is_400_naming_it(api, project, members, body, field):
    response = api(members["engineer"]).post(f"{BASE}/hazards/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {field}


def test_numbers_and_booleans_are_checked_as_json_types(api, project, members):
    client = api(members["engineer"])
    goal = {"code": "SG-01", "text": "Avoid unintended braking", "ftti_ms": "150"}
    response = client.post(f"{BASE}/safety-goals/", goal, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"ftti_ms"}
    response = client.post(f"{BASE}/safety-goals/", {**goal, "ftti_ms": 150}, format="json")
    assert response.status_code == 201
