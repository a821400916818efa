"""The coverage table of the evidence pack: per criterion of each latest run, the bins hit of
all bins, the holes and the goal, read from the coverage recorded with the verdict."""

import pytest

from reports import selectors
from tests.reports.test_pdf import demo, pages_of, render, section, viewer  # noqa: F401
from validation import services
from validation.models import Campaign, Verdict

pytestmark = pytest.mark.django_db


def _latest_runs(project):
    snapshot = selectors.case_snapshot(
        user=viewer(),
        project=project,
        baseline=selectors.baseline_named(project),
        checkpoint=selectors.latest_checkpoint(project),
    )
    return list({run.campaign: run for run in snapshot.runs}.values())


def test_the_pack_shows_each_criterions_coverage_as_recorded(
    demo,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    campaign = Campaign.objects.get(project=demo, name="AEB-demo")
    with django_capture_on_commit_callbacks(execute=True):
        services.run_start(user=campaign.created_by, campaign=campaign)
    runs = _latest_runs(demo)
    shown = [(run, v) for run in runs for v in run.verdicts if v.coverage]
    assert shown, "the demo's runs record coverage with their verdicts"
    run, first = shown[0]
    recorded = Verdict.objects.get(run_id=run.run, criterion__code=first.criterion)
    # An edit of the recorded coverage shows in the pack: it is read, not computed again.
    edited = dict(recorded.coverage, bins_hit=4321, bins_total=9876, holes=5555, met=False)
    edited["parameters"] = [
        {**p, "holes": ["zz-hole"]} if i == 0 else p
        for i, p in enumerate(recorded.coverage["parameters"])
    ]
    Verdict.objects.filter(pk=recorded.pk).update(coverage=edited)
    text = section(pages_of(render(demo).data), "8 Verification and validation", "9 SOTIF")
    assert f"Coverage of each criterion in run {run.run}, as recorded with its verdict" in text
    assert "Criterion Cases Bins hit / total Holes Goal Goal met" in text
    name = edited["parameters"][0]["parameter"]
    assert f"{first.criterion} {edited['cases']:,} 4,321 / 9,876 5,555: {name} zz-hole" in text
    for _, v in shown[1:]:
        c = v.coverage
        assert f"{v.criterion} {c['cases']:,} {c['bins_hit']:,} / {c['bins_total']:,}" in text
