"""Health, metrics, API docs, settings and the demo seed."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from projects.models import Membership, Project

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
class TestHealth:
    def test_it_reports_ok(self, client):
        response = client.get("/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body == {
            "status": "ok",
            "checks": {
                "database": "ok",
                "broker": "ok",
                "storage": "ok",
                "publication": "ok",
                "integration": "ok",
            },
        }

    def test_unwritable_storage_is_503_and_anonymous_callers_learn_no_details(
        self, client, settings, tmp_path
    ):
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        settings.SAFECASE_STORAGE_URL = (blocker / "store").as_uri()
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "failing"
        assert body["checks"]["storage"] == "failing"
        assert "reasons" not in body
        assert str(tmp_path) not in response.content.decode()

    def test_staff_get_a_short_reason_without_exception_text(
        self, client, settings, tmp_path, django_user_model
    ):
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        settings.SAFECASE_STORAGE_URL = (blocker / "store").as_uri()
        staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
        client.force_login(staff)
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["reasons"] == {"storage": "the store cannot be reached or written"}
        assert str(tmp_path) not in response.content.decode()

    def test_unreachable_broker_is_503(self, client, settings):
        settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["checks"]["broker"] == "failing"
        assert "127.0.0.1" not in response.content.decode()

    def test_publication_lag_past_the_grace_period_is_503(
        self, client, settings, project, tmp_path, django_capture_on_commit_callbacks
    ):
        from evidence import ledger

        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        good_store = settings.SAFECASE_STORAGE_URL
        settings.SAFECASE_STORAGE_URL = (blocker / "store").as_uri()
        with django_capture_on_commit_callbacks(execute=True):
            ledger.append(project, [ledger.Record("decision", [ledger.Subject("d", "0" * 64)], {})])
        settings.SAFECASE_STORAGE_URL = good_store  # the store is back; the queue is not empty
        assert client.get("/healthz").status_code == 200  # within the grace period
        settings.SAFECASE_PUBLISH_GRACE = 0
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"]["publication"] == "failing"


@pytest.mark.django_db
def test_metrics_are_prometheus_text(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"safecase_http_requests_total" in response.content


@pytest.mark.django_db
def test_schema_lists_the_project_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    assert "/api/v1/projects/{key}/memberships/" in paths


@pytest.mark.django_db
def test_docs_page_needs_no_internet(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar" in html
    # Every script and stylesheet is served by Safecase itself: no absolute or protocol-relative
    # address (a random CSRF token may well contain the letters "cdn", so look at URLs only).
    import re

    urls = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', html)
    assert urls
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))]


def _manage(*args, env_extra=None, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_missing_secret_key_is_a_clear_one_line_error():
    result = _manage(
        "check",
        env_extra={"DATABASE_URL": "postgres://safecase@127.0.0.1:5432/safecase"},
        drop=("SECRET_KEY", "SECRET_KEY_FILE", "DEBUG"),
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_unconfigured_management_commands_run_in_the_embedded_mode(tmp_path):
    result = _manage(
        "check",
        env_extra={"SAFECASE_VAR_DIR": str(tmp_path)},
        drop=("SECRET_KEY", "SECRET_KEY_FILE", "DEBUG", "DATABASE_URL"),
    )
    assert result.returncode == 0, result.stderr


def test_production_settings_pass_check_deploy():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_extra={
            "SECRET_KEY": "x9!Vq2#Lm7@Rt4$Wz8^Kp3&Hn6*Jd1(Fs5)Gb0_Yc2+Ue7=Ai4",
            "ALLOWED_HOSTS": "safecase.example.com",
        },
        drop=("DEBUG",),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    call_command("seed_demo")
    first = (Project.objects.count(), Membership.objects.count())
    call_command("seed_demo")
    assert (Project.objects.count(), Membership.objects.count()) == first
    project = Project.objects.get(key="AEB")
    roles = set(project.memberships.values_list("role", flat=True))
    assert roles == {"admin", "safety_manager", "engineer", "assessor", "viewer"}


@pytest.mark.django_db
def test_the_demo_safety_case_follows_the_rules():
    from compliance import selectors
    from compliance.models import Approval, Decomposition, HazardousEvent, SafetyGoal, TraceLink
    from evidence.verification import verify_project

    call_command("seed_demo")
    project = Project.objects.get(key="AEB")
    asils = dict(HazardousEvent.objects.values_list("code", "asil"))
    assert asils == {
        "HE-01": "D",
        "HE-02": "B",
        "HE-03": "C",
        "HE-04": "B",
        "HE-05": "A",
        "HE-06": "QM",
    }
    goals = {g.code: (g.asil, g.ftti_ms) for g in SafetyGoal.objects.all()}
    assert goals == {"SG-01": ("D", 150), "SG-02": ("C", 300), "SG-03": ("B", 300)}
    decomposition = Decomposition.objects.get()
    assert {decomposition.first.code, decomposition.second.code} == {"TSR-001", "TSR-002"}
    assert TraceLink.objects.filter(suspect=True).count() >= 1
    assert Approval.objects.filter(achieved_independence="I3").count() == 3
    gaps = selectors.gap_analysis(project=project)
    assert gaps["stale_verifications"] == 1
    assert gaps["release_ready"] is False
    assert verify_project(project).ok


def test_the_demo_campaign_gives_every_kind_of_verdict(ledger_transactional_db):
    from validation.models import Verdict

    call_command("seed_demo")
    out = StringIO()
    call_command(
        "run_campaign",
        "--project",
        "AEB",
        "--campaign",
        "AEB-demo",
        "--user",
        "erin",
        "--json",
        stdout=out,
    )
    summary = json.loads(out.getvalue())
    assert summary["status"] == "succeeded"
    kinds = {v["criterion"]: v["verdict"] for v in summary["verdicts"]}
    assert set(kinds.values()) == {"pass", "fail", "inconclusive"}
    assert Verdict.objects.count() == len(kinds)
    _judged_only_in_scope(summary["run"])


def _judged_only_in_scope(run_id):
    """AC-02 is judged on the stopped-target cases from 20 to 50 km/h and AC-03 on the crossing
    pedestrians up to 40 km/h: the digest of the judged ids names exactly those cases."""
    import hashlib

    from evidence.verify import canonical_json
    from validation.models import CaseResult, Verdict

    results = list(
        CaseResult.objects.filter(run_id=run_id).values_list("case_id", "scenario", "params")
    )
    for code, scenario, inside in (
        ("AC-02", "CCRs", lambda s, p: s == "CCRs" and 20 <= p["ego_speed"] <= 50),
        ("AC-03", "CPNA", lambda s, p: s == "CPNA" and p["ego_speed"] <= 40),
    ):
        verdict = Verdict.objects.get(run_id=run_id, criterion__code=code)
        ids = sorted(c for c, s, p in results if inside(s, p))
        assert ids and verdict.trials == len(ids) == verdict.cases_in_scope, code
        assert verdict.cases_out_of_scope == len(results) - len(ids)
        assert verdict.judged_sha256 == hashlib.sha256(canonical_json(ids)).hexdigest()
        assert [r["scenario"] for r in verdict.scenarios if r["judged"]] == [scenario]
