"""A run's pages name the executor the run ran on, which may differ from its campaign's
default; and a run is never started on another executor than the one asked for."""

from __future__ import annotations

import base64
import json
import re

from django.urls import reverse

from validation import services
from validation.execution.local import compute
from validation.models import Campaign, Run


def statement(entry) -> dict:
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))


class LocalOnAnotherName:
    """An executor registered as Spark that computes in-process, as the local one does."""

    def __init__(self, name):
        self.name = name
        self.results = {}

    def submit(self, run_id, shard, cases):
        handle = f"{self.name}-{run_id}-{shard}"
        self.results[handle] = compute(cases)
        return handle

    def poll(self, handle):
        return "succeeded"

    def collect(self, handle):
        return self.results.pop(handle)

    def cancel(self, handle):
        pass

    def failure_reason(self, handle):
        return None


def test_a_run_shows_the_executor_it_ran_on_not_the_campaigns_default(
    as_user, demo, monkeypatch, django_capture_on_commit_callbacks
):
    built = []

    def get_executor(name):
        built.append(name)
        return LocalOnAnotherName(name)

    monkeypatch.setattr(services, "get_executor", get_executor)
    campaign = Campaign.objects.get(project=demo, name="AEB-demo")
    assert campaign.executor == "local"
    client = as_user("erin")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("ui:run-start", args=["AEB", campaign.pk]), {"executor": "spark"}
        )
    run = Run.objects.filter(campaign=campaign).latest("created_at")
    assert response["Location"] == reverse("ui:run", args=["AEB", run.pk])
    assert run.status == "succeeded", run.error
    assert run.executor == "spark" and set(built) == {"spark"}
    assert statement(run.entry)["predicate"]["executor"] == "spark"

    page = client.get(response["Location"]).content.decode()
    assert "executor Spark · started by erin" in page
    detail = client.get(reverse("ui:campaign", args=["AEB", campaign.pk])).content.decode()
    assert "<dt>Default executor</dt><dd>Local (numpy / pyarrow)" in detail
    run_row = re.search(rf"<tr><td><a [^>]*>run {run.pk}</a>.*?</tr>", detail, re.S).group(0)
    assert "<td>Spark</td>" in run_row
    listing = client.get(reverse("ui:campaigns", args=["AEB"])).content.decode()
    assert f"run {run.pk}</a>" in listing and "on Spark</small>" in listing


def test_a_run_never_falls_back_to_another_executor_than_the_one_asked_for(as_user, demo):
    campaign = Campaign.objects.get(project=demo, name="AEB-demo")
    runs = Run.objects.filter(campaign=campaign).count()
    response = as_user("erin").post(
        reverse("ui:run-start", args=["AEB", campaign.pk]), {"executor": "mainframe"}, follow=True
    )
    assert "mainframe is not one of the available choices" in response.content.decode()
    assert Run.objects.filter(campaign=campaign).count() == runs
