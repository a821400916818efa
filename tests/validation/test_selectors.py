"""The validation reads: each scoped to the project it is given, so another project's member,
whose project is the only one ``get_project_for_user`` resolves for them, sees nothing."""

import pytest
from django.http import Http404
from django.shortcuts import get_object_or_404

from projects.permissions import get_project_for_user
from validation import selectors, services

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(members, campaign, django_capture_on_commit_callbacks):
    """A finished run of the campaign, with its verdict."""
    with django_capture_on_commit_callbacks(execute=True):
        started = services.run_start(user=members["engineer"], campaign=campaign)
    started.refresh_from_db()
    assert started.status == "succeeded", started.error
    return started


def test_the_project_reads_its_campaign_run_results_and_verdicts(project, run):
    (campaign,) = selectors.campaign_rows(project=project)
    assert (campaign.run_count, campaign.last_run, campaign.last_status) == (
        1,
        run.pk,
        "succeeded",
    )
    found = get_object_or_404(selectors.run_rows(project=project), pk=run.pk)
    assert found.cases_done == run.cases_total == selectors.run_results(run=run).count() > 0
    assert [c.code for c in selectors.campaign_criteria(campaign_id=campaign.pk)] == ["AC-02"]
    ((criterion, verdict),) = selectors.latest_verdicts(project=project)
    assert verdict is not None and verdict.run_id == run.pk
    assert selectors.campaign_summaries(project=project) == [(campaign, [verdict])]


def test_another_projects_member_sees_none_of_it(project, other_project, outsider, run):
    with pytest.raises(Http404):
        get_project_for_user(outsider, project.key)
    theirs = get_project_for_user(outsider, other_project.key)
    assert selectors.campaign_rows(project=theirs) == []
    assert selectors.campaign_summaries(project=theirs) == []
    assert selectors.latest_verdicts(project=theirs) == []
    assert not selectors.active_runs(project=theirs).exists()
    with pytest.raises(Http404):
        get_object_or_404(selectors.campaign_details(project=theirs), pk=run.campaign_id)
    with pytest.raises(Http404):
        get_object_or_404(selectors.run_rows(project=theirs), pk=run.pk)
    with pytest.raises(Http404):
        get_object_or_404(selectors.runs_of_project(project=theirs), pk=run.pk)
