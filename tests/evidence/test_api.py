"""The ledger over REST: entries, checkpoint, proofs, decisions; 400, 403, 404. Every route's
401, 403 and 404 per role: ``tests/config/test_access_sweep.py``."""

import base64
import hashlib

import pytest

from evidence import ledger, verify
from evidence.ledger import Record, Subject
from evidence.models import Decision, LogEntry

pytestmark = pytest.mark.django_db
BASE = "/api/v1/projects/AEB"


@pytest.fixture
def log(project):
    ledger.append(
        project, [Record("decision", [Subject(f"d{i}", f"{i:064x}")], {"i": i}) for i in range(11)]
    )
    return project


def test_entries_are_paged_with_their_statements(api, log, members):
    response = api(members["viewer"]).get(f"{BASE}/ledger/entries/?limit=4&offset=8")
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 11
    assert [e["index"] for e in data["results"]] == [8, 9, 10]
    entry = data["results"][0]
    envelope = base64.b64decode(entry["envelope"])
    assert hashlib.sha256(b"\x00" + envelope).hexdigest() == entry["leaf_hash"]
    assert entry["statement"]["predicate"]["i"] == 8


def test_entries_filter_by_kind(api, log, members):
    ledger.append(log, [Record("dataset", [Subject("ds", "0" * 64)], {})])
    data = api(members["viewer"]).get(f"{BASE}/ledger/entries/?kind=dataset").json()
    assert [e["index"] for e in data["results"]] == [11]


def test_latest_checkpoint(api, log, members):
    data = api(members["viewer"]).get(f"{BASE}/ledger/checkpoint/").json()
    assert data["size"] == 11
    assert data["root"] == ledger.head_of(log)[1].hex()
    assert data["note"].startswith("safecase.local/ledger/AEB\n11\n")


def test_empty_log_has_no_checkpoint(api, project, members):
    assert api(members["viewer"]).get(f"{BASE}/ledger/checkpoint/").status_code == 404


def test_inclusion_proof_verifies_offline(api, log, members):
    entry = LogEntry.objects.get(project=log, index=6)
    data = api(members["viewer"]).get(f"{BASE}/ledger/proofs/inclusion/?index=6&size=9").json()
    proof = [bytes.fromhex(h) for h in data["proof"]]
    assert verify.verify_inclusion(bytes(entry.leaf_hash), 6, 9, proof, bytes.fromhex(data["root"]))


def test_consistency_proof_verifies_offline(api, log, members):
    old = api(members["viewer"]).get(f"{BASE}/ledger/proofs/inclusion/?index=0&size=5").json()
    data = api(members["viewer"]).get(f"{BASE}/ledger/proofs/consistency/?first=5").json()
    assert data["tree_size"] == 11
    proof = [bytes.fromhex(h) for h in data["proof"]]
    assert verify.verify_consistency(
        5, 11, proof, bytes.fromhex(old["root"]), bytes.fromhex(data["root"])
    )


@pytest.mark.parametrize(
    "query", ["index=11&size=11", "index=0&size=12", "index=-1", "index=x", ""]
)
def test_bad_proof_requests_are_400(api, log, members, query):
    response = api(members["viewer"]).get(f"{BASE}/ledger/proofs/inclusion/?{query}")
    assert response.status_code == 400


def test_bad_consistency_request_is_400(api, log, members):
    response = api(members["viewer"]).get(f"{BASE}/ledger/proofs/consistency/?first=9&second=4")
    assert response.status_code == 400
    assert "first size" in response.json()["detail"]


DECISION = {
    "title": "Radar as second path",
    "context": "Camera alone misses stopped targets.",
    "options": ["camera only", "camera and radar"],
    "decision": "camera and radar",
    "consequences": "DFA needed for the shared power supply.",
}


def test_a_safety_manager_records_a_decision_in_the_ledger(api, log, members):
    response = api(members["safety_manager"]).post(f"{BASE}/decisions/", DECISION, format="json")
    assert response.status_code == 201, response.json()
    decision = Decision.objects.get()
    assert decision.entry.kind == "decision"
    assert decision.entry.index == 11
    listed = api(members["viewer"]).get(f"{BASE}/decisions/").json()["results"]
    assert listed[0]["options"] == DECISION["options"]


def test_an_engineer_may_not_decide(api, log, members):
    response = api(members["engineer"]).post(f"{BASE}/decisions/", DECISION, format="json")
    assert response.status_code == 403
    assert not Decision.objects.exists()
    assert LogEntry.objects.filter(project=log).count() == 11


def test_a_decision_without_options_is_400_naming_the_field(api, log, members):
    response = api(members["safety_manager"]).post(
        f"{BASE}/decisions/", {**DECISION, "options": []}, format="json"
    )
    assert response.status_code == 400
    assert "options" in response.json()
    assert LogEntry.objects.filter(project=log).count() == 11


def test_an_entry_of_another_project_is_not_found(api, log, other_project, outsider, members):
    ledger.append(other_project, [Record("decision", [Subject("x", "1" * 64)], {})])
    assert api(members["viewer"]).get("/api/v1/projects/LKA/ledger/entries/0/").status_code == 404
    assert api(outsider).get("/api/v1/projects/LKA/ledger/entries/0/").status_code == 200
