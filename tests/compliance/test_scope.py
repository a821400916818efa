"""The applicability scope of an acceptance criterion: validated, canonical, recorded."""

import base64
import json

import pytest
from django.core.exceptions import ValidationError

from compliance import scope, services
from compliance.models import AcceptanceCriterion
from evidence.models import LogEntry

pytestmark = pytest.mark.django_db
BASE = "/api/v1/projects/AEB"
AC02_SCOPE = {"scenarios": ["CCRs"], "parameters": {"ego_speed": [20, 50]}}


def save(user, project, **fields):
    return services.acceptance_criterion_save(
        user=user,
        project=project,
        code=fields.pop("code", "AC-02"),
        description="stopped vehicle",
        unit="cases",
        allowed_failure_probability=1e-3,
        confidence=0.95,
        kpi="min_ttc",
        comparator=">",
        threshold=1.0,
        **fields,
    )


def test_a_scope_is_stored_canonical_and_recorded(project, members):
    ac = save(
        members["engineer"],
        project,
        scope={
            "parameters": {"ego_speed": [20.0, 50]},
            "scenarios": ["CCRs", " CCRs", "CCRb"],
            "odd": {"surface": ["wet", "dry", "wet"]},
        },
    )
    ac.refresh_from_db()
    assert ac.scope == {
        "scenarios": ["CCRb", "CCRs"],
        "parameters": {"ego_speed": [20, 50]},
        "odd": {"surface": ["dry", "wet"]},
    }
    entry = LogEntry.objects.filter(project=project).latest("index")
    body = json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))
    assert body["subject"][0]["name"] == "ac:AC-02"
    assert body["subject"][0]["digest"]["sha256"] == services.digest_of(ac.snapshot())
    assert body["predicate"]["content"]["scope"] == ac.scope


def test_a_criterion_without_a_scope_keeps_its_digest(project, members):
    ac = save(members["engineer"], project)
    assert ac.scope == {} and "scope" not in ac.snapshot()


@pytest.mark.parametrize(
    "bad, words",
    [
        ([1, 2], "JSON object"),
        ({"scenario": ["CCRs"]}, "Unknown key"),
        ({"scenarios": []}, "non-empty list"),
        ({"scenarios": [3]}, "not a name"),
        ({"parameters": {"ego_speed": [50, 20]}}, "above the high bound"),
        ({"parameters": {"ego_speed": [None, None]}}, "at least one bound"),
        ({"parameters": {"ego_speed": [20]}}, "[low, high]"),
        ({"parameters": {"ego_speed": ["20", 50]}}, "not a finite number"),
        ({"parameters": {"ego_speed": [True, 50]}}, "not a finite number"),
        ({"parameters": {"ego speed": [20, 50]}}, "not a name"),
        ({"odd": {"surface": "wet"}}, "non-empty list"),
    ],
)
def test_a_bad_scope_is_refused_on_its_field_and_changes_nothing(project, members, bad, words):
    ac = save(members["engineer"], project, scope=AC02_SCOPE)
    entries = LogEntry.objects.filter(project=project).count()
    with pytest.raises(ValidationError) as refused:
        save(members["engineer"], project, code="AC-09", scope=bad)
    assert list(refused.value.message_dict) == ["scope"]
    assert words in refused.value.message_dict["scope"][0]
    with pytest.raises(ValidationError):
        services.acceptance_criterion_save(
            user=members["engineer"], project=project, criterion=ac, scope=bad
        )
    assert not AcceptanceCriterion.objects.filter(code="AC-09").exists()
    assert AcceptanceCriterion.objects.get(pk=ac.pk).scope == AC02_SCOPE
    assert LogEntry.objects.filter(project=project).count() == entries


def test_a_case_is_inside_only_when_it_meets_every_part_of_the_scope():
    ac02 = scope.clean({**AC02_SCOPE, "odd": {"surface": ["dry", "wet"]}})

    def inside(name="CCRs", tags=("dry",), **params):
        return scope.contains(ac02, scenario=name, params=params, odd_tags=tags)

    assert inside(ego_speed=20) and inside(ego_speed=50.0) and inside(ego_speed=35, surface="wet")
    assert not inside(ego_speed=19.99) and not inside(ego_speed=50.01)
    assert not inside("CCRb", ego_speed=30)
    assert inside("stopped-target", ego_speed=30, scenario="ccrs")  # matched by its class
    assert not inside()  # no ego speed: nothing shows it is inside
    assert not inside(ego_speed="30") and not inside(ego_speed=True)
    assert not inside(ego_speed=30, surface="snow")
    assert not inside(ego_speed=30, tags=("snow",))  # the scenario declares no allowed surface
    assert scope.contains({}, scenario="any", params={}, odd_tags=())
    up_to_40 = scope.clean({"parameters": {"ego_speed": [None, 40]}})
    assert scope.contains(up_to_40, scenario="CPNA", params={"ego_speed": 40}, odd_tags=())
    assert not scope.contains(up_to_40, scenario="CPNA", params={"ego_speed": 41}, odd_tags=())
    assert scope.describe(up_to_40) == "ego_speed up to 40"
    assert scope.describe(ac02) == "CCRs; ego_speed 20 to 50; surface dry or wet"


def test_the_api_takes_and_answers_the_scope(api, project, members):
    client = api(members["engineer"])
    body = {
        "code": "AC-02",
        "description": "stopped vehicle",
        "unit": "cases",
        "allowed_failure_probability": 0.001,
        "scope": AC02_SCOPE,
    }
    response = client.post(f"{BASE}/acceptance-criteria/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["scope"] == AC02_SCOPE
    bad = {**body, "code": "AC-03", "scope": {"parameters": {"ego_speed": [50, 20]}}}
    response = client.post(f"{BASE}/acceptance-criteria/", bad, format="json")
    assert response.status_code == 400
    assert "scope" in str(response.json())
    assert not AcceptanceCriterion.objects.filter(code="AC-03").exists()
