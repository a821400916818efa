"""The review sessions over REST: open, sign with the password in the body, revoke, comment,
and the impact of a proposed change before it is saved."""

import pytest
from django.core import mail

from compliance.models import Signature
from tests.compliance.test_review_sessions import FSC, case, people  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
BASE = "/api/v1/projects/AEB"


@pytest.fixture
def opened(api, people, case, django_capture_on_commit_callbacks):  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True):
        response = api(people["sam"]).post(
            f"{BASE}/review-sessions/",
            {
                "title": "FSC review",
                "measure": FSC,
                "reviewers": ["ada", "eli"],
                "keys": ["requirement:FSR-001", "goal:SG-01"],
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_safety_manager_opens_a_review_and_the_reviewers_are_asked(opened, api, people):  # noqa: F811
    assert opened["items"] == 2 and opened["reviewers"] == ["ada", "eli"]
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com", "eli@example.com"]
    detail = api(people["vic"]).get(f"{BASE}/review-sessions/{opened['id']}/").json()
    assert [i["key"] for i in detail["items"]] == ["requirement:FSR-001", "goal:SG-01"]
    assert detail["items"][0]["required_independence"] == "I3"
    refused = api(people["erin"]).post(f"{BASE}/review-sessions/", {}, format="json")
    assert refused.status_code == 403


def test_signing_over_the_api_asks_the_password_again(opened, api, people):  # noqa: F811
    url = f"{BASE}/review-sessions/{opened['id']}/sign/"
    body = {
        "item": "requirement:FSR-001",
        "decision": "reject",
        "meaning": "approved",
        "comment": "No FTTI.",
    }
    ada = api(people["ada"])
    no_password = ada.post(url, body, format="json")
    assert no_password.status_code == 400 and "password" in no_password.json()
    wrong = ada.post(url, {**body, "password": "nope"}, format="json")
    assert wrong.status_code == 400 and not Signature.objects.exists()
    signed = ada.post(url, {**body, "password": "pw"}, format="json")
    assert signed.status_code == 201, signed.content
    assert signed.json()["state"] == "current" and signed.json()["decision"] == "reject"
    assert "password" not in signed.json()
    not_named = api(people["sam"]).post(url, {**body, "password": "pw"}, format="json")
    assert not_named.status_code == 403
    unknown_item = ada.post(
        url, {**body, "item": "requirement:X-1", "password": "pw"}, format="json"
    )
    assert unknown_item.status_code == 404

    revoke = f"{BASE}/signatures/{signed.json()['id']}/revoke/"
    assert api(people["eli"]).post(revoke, {"reason": "no"}, format="json").status_code == 403
    revoked = ada.post(revoke, {"reason": "Misread the FTTI."}, format="json")
    assert revoked.status_code == 201 and revoked.json()["state"] == "revoked"
    assert revoked.json()["reason"] == "Misread the FTTI."


def test_comments_and_the_impact_of_a_change(opened, api, people):  # noqa: F811
    posted = api(people["eli"]).post(
        f"{BASE}/comments/",
        {"key": "requirement:FSR-001", "text": "@ada see the FTTI"},
        format="json",
    )
    assert posted.status_code == 201 and posted.json()["mentions"] == ["ada"]
    listed = api(people["vic"]).get(f"{BASE}/comments/?key=requirement:FSR-001").json()
    assert [c["text"] for c in listed["results"]] == ["@ada see the FTTI"]

    preview = (
        api(people["vic"])
        .post(
            f"{BASE}/impact/preview/",
            {"requirement": "FSR-001", "text": "Brake harder."},
            format="json",
        )
        .json()
    )
    assert preview["changes_content"] and preview["count"] == len(preview["effects"])
    assert {"group": "links", "label": "FSR-001 derives-from SG-01", "what": "turns suspect"} in (
        preview["effects"]
    )
    assert {"group": "open reviews", "label": "FSC review", "what": "can no longer be signed"} in (
        preview["effects"]
    )
    missing = api(people["vic"]).post(
        f"{BASE}/impact/preview/", {"requirement": "FSR-404", "text": "x"}, format="json"
    )
    assert missing.status_code == 404
    assert api(people["vic"]).get(f"{BASE}/impact/").json()["count"] == 0
