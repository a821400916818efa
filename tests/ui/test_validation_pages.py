"""The campaign pages: start a run, watch it (the fragments htmx polls), cancel it, and read
its per-case results and KPI plots."""

from __future__ import annotations

import math
import re

from django.urls import reverse

from ui.views.campaigns import RESULTS_PAGE
from validation.models import Campaign, CaseResult, Run, RunStatus, Verdict

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_starting_a_run_executes_it_and_shows_it(as_user, demo, django_capture_on_commit_callbacks):
    campaign = Campaign.objects.get(project=demo, name="AEB-demo")
    client = as_user("erin")
    with django_capture_on_commit_callbacks(execute=True):  # the shards run in-process
        response = client.post(
            reverse("ui:run-start", args=["AEB", campaign.pk]), {"executor": "local"}
        )
    run = Run.objects.filter(campaign=campaign).latest("created_at")
    assert response.status_code == 302
    assert response["Location"] == reverse("ui:run", args=["AEB", run.pk])
    assert run.status == RunStatus.SUCCEEDED
    html = client.get(response["Location"]).content.decode()
    assert CaseResult.objects.filter(run=run).count() == run.cases_total > 0
    assert f"{run.cases_total}</strong> of {run.cases_total} cases (100%)" in html
    assert 'class="chart scatter"' in html and 'class="chart histogram"' in html
    assert "hx-trigger" not in html.split('id="run-progress"')[1].split(">")[0]  # not polling


def test_a_queued_run_is_polled_and_cancelled(as_user, demo):
    campaign = Campaign.objects.get(project=demo, name="AEB-demo")
    client = as_user("erin")
    client.post(reverse("ui:run-start", args=["AEB", campaign.pk]))  # queued: not committed
    run = Run.objects.filter(campaign=campaign, status=RunStatus.QUEUED).get()
    page = client.get(reverse("ui:run", args=["AEB", run.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Cancel the run" in page
    dashboard = client.get(reverse("ui:dashboard", args=["AEB"])).content.decode()
    assert f"AEB-demo · run {run.pk}" in dashboard
    assert reverse("ui:dashboard-runs", args=["AEB"]) + "?poll=1" in dashboard

    progress = reverse("ui:run-progress", args=["AEB", run.pk])
    poll = client.get(progress, {"poll": 1}, **HTMX)
    assert "HX-Refresh" not in poll and 'hx-trigger="every 2s"' in poll.content.decode()

    response = client.post(reverse("ui:run-cancel", args=["AEB", run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    poll = client.get(progress, {"poll": 1}, **HTMX)
    assert poll["HX-Refresh"] == "true"  # the page reloads once to show the outcome
    assert "hx-trigger" not in poll.content.decode()
    live = client.get(reverse("ui:dashboard-runs", args=["AEB"]), {"poll": 1}, **HTMX)
    assert live["HX-Refresh"] == "true"
    assert "No campaign is running." in live.content.decode()


def test_a_campaign_without_cases_cannot_start(as_user, demo, people):
    from validation.services import campaign_create

    empty = campaign_create(user=people["erin"], project=demo, name="empty", spaces=[], criteria=[])
    client = as_user("erin")
    response = client.post(reverse("ui:run-start", args=["AEB", empty.pk]), follow=True)
    assert "empty has no cases to run." in response.content.decode()
    assert not Run.objects.filter(campaign=empty).exists()


def test_the_plots_follow_the_chosen_kpi_and_criterion(as_user, demo_run):
    client = as_user("vic")
    url = reverse("ui:run", args=["AEB", demo_run.pk])
    html = client.get(url).content.decode()
    assert "min_ttc against ego_speed" in html  # AC-02's KPI by default, coloured by it
    assert 'class="dot fail"' in html and 'class="dot pass"' in html
    assert 'class="limit"' in html  # the threshold of AC-02
    html = client.get(url, {"x": "initial_gap", "y": "min_distance", "criterion": ""})
    html = html.content.decode()
    assert "min_distance against initial_gap" in html
    assert 'class="dot fail"' not in html and 'class="limit"' not in html


def test_the_results_are_paginated(as_user, demo_run):
    client = as_user("vic")
    html = client.get(reverse("ui:run", args=["AEB", demo_run.pk]), {"page": 2}).content.decode()
    ids = list(CaseResult.objects.filter(run=demo_run).order_by("case_id").values_list("case_id"))
    pages = math.ceil(len(ids) / RESULTS_PAGE)
    assert pages > 2  # so that page 2 has a next page
    assert f"page 2 of {pages}" in html
    table = re.search(r'<table class="results">.*?</table>', html, re.S).group(0)
    shown = re.findall(r"<td><code>([^<]+)</code></td>", table)
    assert shown == [case for (case,) in ids[RESULTS_PAGE : 2 * RESULTS_PAGE]]
    assert '<a href="?page=3" rel="next">' in html


def test_the_dashboard_shows_verdicts_and_target_progress(as_user, demo_run):
    html = as_user("vic").get(reverse("ui:dashboard", args=["AEB"])).content.decode()
    assert "Campaign verdicts" in html and "AEB-demo" in html
    assert '<table class="targets">' in html
    verdict = Verdict.objects.get(run=demo_run, criterion__code="AC-04")  # a criterion in cases
    assert verdict.trials >= verdict.target  # met: the bar is full
    assert (
        f'<span style="width: 100.0%"></span></span> {verdict.trials:,} cases judged: the '
        f'{verdict.target:,.0f} cases needed are reached <small class="muted">(100 %)</small>'
    ) in html
    assert "No campaign is running." in html
