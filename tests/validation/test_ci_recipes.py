"""The CI recipes in the README (GitHub Actions and GitLab CI): every ``manage.py`` command and
every API path they use exists and takes the arguments given, and the recipes run, step by step,
against a test installation: register the model, run the campaign through the API, gate on
``compare_runs``."""

from __future__ import annotations

import json
import re
import shlex
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError
from django.urls import resolve
from rest_framework.authtoken.models import Token

from validation import services
from validation.api.serializers import RunOut, RunStartIn
from validation.models import Run

SECTION = "### Regression between versions, as a merge gate"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def _recipes() -> dict[str, list[str]]:
    """The shell steps of each recipe, by CI system."""
    text = (Path(settings.BASE_DIR) / "README.md").read_text()
    assert SECTION in text, "the README lost its CI recipes"
    section = text.split(SECTION, 1)[1].split("\n### ", 1)[0]
    github, gitlab = (yaml.safe_load(block) for block in BLOCK.findall(section))
    steps = [s["run"] for s in github["jobs"]["gate"]["steps"] if "run" in s]
    job = gitlab["validation-gate"]
    return {"github": steps, "gitlab": [*job["before_script"], *job["script"]]}


def _commands(script: str) -> list[list[str]]:
    """Every shell command of a script, as words (continuations joined, one per line)."""
    script = script.replace("\\\n", " ")
    out = []
    for line in script.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _manage_calls(script: str) -> list[list[str]]:
    calls = []
    for line in _commands(script):
        for part in line.split("&&"):
            words = shlex.split(part, posix=True)
            if words[:2] == ["python", "manage.py"]:
                calls.append(words[2:])
    return calls


CURL = re.compile(r"curl (?P<options>[^|)]*?)\"\$SAFECASE_URL(?P<path>/api/v1/[^\"]+)\"")


def _api_calls(script: str) -> list[tuple[str, str, str | None]]:
    """(method, path, body) of every curl call to the API."""
    calls = []
    for match in CURL.finditer(script.replace("\\\n", " ")):
        options = match["options"]
        method = "POST" if "-X POST" in options else "GET"
        body = re.search(r'-d "((?:[^"\\]|\\.)*)"', options)
        calls.append((method, match["path"], body[1].replace('\\"', '"') if body else None))
    return calls


def _fill(text: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):
        text = text.replace(f"${name}", values[name]).replace(f"${{{name}}}", values[name])
    return text


SAMPLE = {
    "SAFECASE_PROJECT": "AEB",
    "SAFECASE_CAMPAIGN": "CCRs",
    "SAFECASE_BASE_RUN": "1",
    "HEAD_RUN": "2",
    "RUN": "2",
    "MODEL_URI": "file:///tmp/model.onnx",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
}


@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_every_command_and_api_path_of_the_recipe_exists(system):
    steps = _recipes()[system]
    calls = [c for step in steps for c in _manage_calls(step)]
    assert {c[0] for c in calls} == {"register_model", "compare_runs"}
    commands = get_commands()
    for name, *arguments in calls:
        assert name in commands, f"{system}: manage.py {name} does not exist"
        parser = load_command_class(commands[name], name).create_parser("manage.py", name)
        parser.parse_args([_fill(a, SAMPLE) for a in arguments])  # exits on an unknown option
    api = [c for step in steps for c in _api_calls(step)]
    assert [m for m, _, _ in api] == ["POST", "GET"]
    for method, path, body in api:
        match = resolve(_fill(path, SAMPLE))
        view = match.func.view_class
        assert hasattr(view, method.lower()), f"{system}: {method} {path} is not served"
        if body:
            data = RunStartIn(data=json.loads(_fill(body, SAMPLE)))
            assert set(data.initial_data) <= set(data.fields) and data.is_valid(), data.errors
    for field in re.findall(r"jq -r \.(\w+)", "\n".join(steps)):
        assert field in RunOut.Meta.fields, f"{system}: runs have no field {field}"


def _run_recipe(system, steps, values, api_client, on_commit) -> tuple[int, str]:
    """Play the recipe's commands and API calls in order; the gate's exit status and output."""
    head = None
    for step in steps:
        for method, path, body in _api_calls(step):
            url = _fill(path, {**values, "RUN": str(head or 0)})
            if method == "POST":
                with on_commit(execute=True):
                    response = api_client.post(url, json.loads(_fill(body, values)), format="json")
                assert response.status_code == 201, response.json()
                head = response.json()["id"]
            else:
                assert api_client.get(url).json()["status"] == "succeeded"
        for name, *arguments in _manage_calls(step):
            arguments = [
                _fill(a, {**values, "HEAD_RUN": str(head), "RUN": str(head)}) for a in arguments
            ]
            out = StringIO()
            try:
                call_command(name, *arguments, stdout=out)
            except CommandError as exc:
                if name == "compare_runs":
                    return 1, str(exc)
                raise
            if name == "compare_runs":
                return 0, out.getvalue()
    raise AssertionError(f"{system}: the recipe never gated on compare_runs")


@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_the_recipe_runs_and_gates(
    system,
    project,
    members,
    campaign,
    api,
    tmp_path,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    engineer = members["engineer"]
    monkeypatch.setattr(settings, "SAFECASE_USER", engineer.username)
    with django_capture_on_commit_callbacks(execute=True):
        base = services.run_start(user=engineer, campaign=campaign)
    model = tmp_path / "aeb-detector.onnx"
    model.write_bytes(b"weights of the version under test")
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=engineer).key}")
    values = {**SAMPLE, "SAFECASE_BASE_RUN": str(base.pk), "MODEL_URI": model.as_uri()}
    steps = [s for s in _recipes()[system] if "manage.py" in s or "curl" in s]
    code, out = _run_recipe(system, steps, values, client, django_capture_on_commit_callbacks)
    assert code == 0, out  # the same cases on a new model file: nothing flipped
    head = Run.objects.latest("pk")
    assert head.inputs["commit"] == SAMPLE["GITHUB_SHA"]
    assert head.inputs["modelName"] == "aeb-detector v1"
    assert f"run {head.pk} (CCRs) against run {base.pk} (CCRs)" in out


def test_a_run_refuses_an_unknown_model_or_a_bad_commit(project, members, campaign, api):
    client = api(members["engineer"])
    url = "/api/v1/projects/AEB/campaigns/CCRs/runs/"
    response = client.post(url, {"model": "nope"}, format="json")
    assert response.status_code == 400 and response.json() == {
        "model": ["No model named 'nope' in AEB."]
    }
    response = client.post(url, {"commit": "main; rm -rf /"}, format="json")
    assert response.status_code == 400 and "is not a commit id" in response.json()["commit"][0]
    assert not Run.objects.exists()
