"""The API keeps the contract its OpenAPI schema states, as schemathesis checks it.

A live server on 127.0.0.1 serves a small safety case seeded through the services. For an
administrator, an engineer and a viewer in turn, schemathesis reads ``/api/schema/`` and sends
generated requests to every operation with all of its checks: no server error; status codes,
content types, headers and bodies as documented; requests the schema allows accepted and
requests it forbids refused; authentication required where the schema says so. The run is
bounded: ``max-examples`` per operation in ``tests/config/schemathesis.toml`` and
:data:`TIME_LIMIT` for each role.

Beyond schemathesis' own checks, the server records the answer to every request: no write
succeeded that the caller's role may not make (the action each write operation documents in
``x-required-action``), and the viewer's run left no entry in the ledger.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.signals import request_started
from rest_framework.authtoken.models import Token
from rest_framework.views import APIView

from compliance import services as compliance
from evidence import services as evidence
from evidence.models import LogEntry
from projects.api.schema import ACTION_EXTENSION, STAFF
from projects.models import Membership, Role
from projects.permissions import ROLE_ACTIONS
from validation import services as validation

pytestmark = [pytest.mark.contract, pytest.mark.usefixtures("ledger_transactional_db")]

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Seconds one role's run may take before it is stopped and the test fails: a bound against a
# hung run, not a speed check. A run costs some 35 s of processor time, client and server
# together (about 1,000 requests); a machine busy with the other test processes takes longer.
TIME_LIMIT = 300
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ROLES = {"admin": Role.ADMIN, "engineer": Role.ENGINEER, "viewer": Role.VIEWER}


def seed(project, people) -> dict[str, str]:
    """A small safety case with one of everything the API lists; the parameters that name its
    objects, by the regular expression of the operations' paths ("" for every operation)."""
    engineer, admin = people["engineer"], people["admin"]
    common = {"user": engineer, "project": project}
    compliance.item_set(**common, function="Brake automatically for an obstacle ahead")
    hazard = compliance.hazard_create(**common, code="H-01", title="Unintended braking")
    situation = compliance.situation_create(**common, code="OS-01", description="Motorway")
    event = compliance.hazardous_event_save(
        **common,
        code="HE-01",
        hazard=hazard,
        situation=situation,
        severity="S3",
        exposure="E4",
        controllability="C3",
        severity_rationale="fatal",
        exposure_rationale="every drive",
        controllability_rationale="no time to react",
    )
    goal = compliance.safety_goal_save(
        **common, code="SG-01", text="Avoid unintended braking", events=[event]
    )
    fsr = compliance.requirement_create(**common, code="FSR-001", kind="FSR", asil="D")
    tsr = compliance.requirement_create(**common, code="TSR-001", kind="TSR", asil="D")
    compliance.link_create(**common, source=fsr, kind="derives-from", target_goal=goal)
    link = compliance.link_create(**common, source=tsr, kind="derives-from", target_requirement=fsr)
    compliance.requirement_update(user=engineer, requirement=fsr, text="Brake within 150 ms")
    compliance.verification_record(**common, requirement=tsr, method="test", result="pass")
    compliance.triggering_condition_create(**common, code="TC-01", description="Low sun")
    criterion = compliance.acceptance_criterion_save(
        **common,
        code="AC-01",
        requirement=fsr,
        unit="cases",
        allowed_failure_probability=0.05,
        confidence=0.9,
        kpi="min_distance",
        comparator=">",
        threshold=0.0,
        description="no collision",
    )
    baseline = compliance.baseline_freeze(user=admin, project=project, name="v1")
    evidence.decision_record(
        user=admin,
        project=project,
        title="Radar and camera",
        context="One sensor is not enough for ASIL D.",
        options=["radar", "radar and camera"],
        decision="radar and camera",
    )
    scenario = validation.scenario_define(
        **common, name="CCRs", parameters=[{"name": "ego_speed", "range": [10, 30]}]
    )
    space = validation.space_create(
        **common,
        scenario=scenario,
        name="grid",
        ranges={"ego_speed": [10, 30, 10]},
        method="grid",
        n=3,
        fixed={"scenario": "ccrs"},
    )
    campaign = validation.campaign_create(
        **common, name="CCRs", spaces=[space], criteria=[criterion], shard_size=2
    )
    run = validation.run_start(user=engineer, campaign=campaign)
    bystander = Membership.objects.get(project=project, user=people["bystander"])
    return {
        "": {"path.key": project.key},
        r"/hazardous-events/\{code\}/$": {"path.code": event.code},
        r"/requirements/\{code\}/$": {"path.code": tsr.code},
        r"/memberships/\{id\}/$": {"path.id": bystander.pk},
        r"/links/\{id\}/clear/$": {"path.id": link.pk},
        r"/runs/\{id\}/": {"path.id": run.pk},
        r"/campaigns/\{name\}/runs/$": {"path.name": campaign.name},
        r"/ledger/entries/\{index\}/$": {"path.index": 1},
        r"/baselines/diff/$": {"query.from": baseline.name, "query.to": baseline.name},
    }


def config_file(folder: Path, parameters: dict[str, dict]) -> Path:
    """schemathesis.toml with the seeded objects' parameters, typed as the schema types them
    (schemathesis checks a pinned value against the schema: an id must be a number)."""
    lines = [CONFIG.read_text(), "[parameters]"]
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in parameters.pop("").items()]
    for regex, values in parameters.items():
        pinned = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in values.items())
        lines += ["", "[[operations]]", f"include-path-regex = {json.dumps(regex)}"]
        lines += [f"parameters = {{ {pinned} }}"]
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def people(project, make_member):
    people = {name: make_member(project, role, username=name) for name, role in ROLES.items()}
    people["admin"].is_staff = True  # staff may create projects: that write is tried too
    people["admin"].save()
    people["bystander"] = make_member(project, Role.ASSESSOR, username="bystander")
    return people


@pytest.fixture
def queued_runs(monkeypatch):
    """Runs are started and stay queued: the contract is the API's, not the executors'."""
    monkeypatch.setattr(validation, "_schedule_shard", lambda run_id, shard: None)


@pytest.fixture
def served(monkeypatch):
    """What the server answered: (username, method, path, status) of every API response, and
    the number of HTTP requests it received."""
    log = {"responses": [], "requests": 0}
    finalize = APIView.finalize_response

    def recording(view, request, response, *args, **kwargs):
        response = finalize(view, request, response, *args, **kwargs)
        user = getattr(request, "_user", None)
        username = user.get_username() if getattr(user, "is_authenticated", False) else ""
        log["responses"].append((username, request.method, request.path, response.status_code))
        return response

    def count(**kwargs):
        log["requests"] += 1

    monkeypatch.setattr(APIView, "finalize_response", recording)
    request_started.connect(count)
    yield log
    request_started.disconnect(count)


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def operation_of(schema: dict, method: str, path: str) -> tuple[str, dict] | None:
    for op_method, template, operation in operations(schema):
        pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
        if op_method == method and re.match(pattern, path):
            return template, operation
    return None


def may(role: str, action: str | None) -> bool:
    if action == STAFF:
        return role == "admin"  # the test's administrator is a staff user
    return action is not None and action in ROLE_ACTIONS[ROLES[role]]


def run_schemathesis(url: str, token: str, config: Path) -> tuple[int, str, float]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{url}/api/schema/",
        "--header",
        f"Authorization: Token {token}",
        "--workers",
        "1",
        "--seed",
        "26262",
        "--no-color",
        "--generation-database",
        "none",
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=config.parent,
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"schemathesis took longer than {TIME_LIMIT} s:\n{exc.stdout or ''}")
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.mark.parametrize("role", list(ROLES))
def test_the_api_keeps_its_schema(
    role, project, people, queued_runs, served, live_server, tmp_path
):
    config = config_file(tmp_path, seed(project, people))
    user = people[role]
    token = Token.objects.create(user=user).key
    schema = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30).json()

    undeclared = [
        f"{method} {path}"
        for method, path, operation in operations(schema)
        if method in WRITE_METHODS
        and operation.get("security")
        and ACTION_EXTENSION not in operation
    ]
    assert not undeclared, f"write operations that do not declare {ACTION_EXTENSION}"

    status, output, seconds = run_schemathesis(live_server.url, token, config)
    summary = output[output.rfind("=== SUMMARY") :]
    print(f"\n{role}: {served['requests']} requests in {seconds:.1f} s\n{summary}")
    assert status == 0, output[-20000:]

    answered, succeeded = {}, 0
    for username, method, path, code in served["responses"]:
        if not path.startswith("/api/v1/"):
            continue  # the schema itself
        found = operation_of(schema, method, path)
        if found is None:  # a method the path does not have
            assert code == 405 or method == "OPTIONS", f"{method} {path} -> {code}"
            continue
        template, operation = found
        answered.setdefault((method, template), set()).add(code)
        if username == user.username and method in WRITE_METHODS and code < 300:
            action = operation.get(ACTION_EXTENSION)
            assert may(role, action), f"{role} {method} {path} -> {code} (needs {action})"
            succeeded += 1
    untested = {(m, p) for m, p, _ in operations(schema)} - set(answered)
    assert not untested, f"operations the run never reached: {sorted(untested)}"
    if role == "viewer":
        assert not LogEntry.objects.filter(recorded_by=user).exists()
    else:
        assert succeeded, f"no write of the {role} succeeded: the run proved nothing about roles"
