"""The regression page: a run compared against a base run, read by anyone in the project and
recorded in the ledger by those who may run campaigns."""

from __future__ import annotations

from django.urls import reverse

from evidence.models import LogEntry
from validation.models import CaseResult, Comparison, Run


def _worse_copy(run: Run, flip: str) -> Run:
    """A copy of ``run`` whose case ``flip`` stops at a min TTC of 0.4 s (it passed before)."""
    head = Run.objects.create(
        campaign=run.campaign,
        status=run.status,
        executor=run.executor,
        cases_total=run.cases_total,
        shards_total=run.shards_total,
        inputs={**run.inputs, "model": "b" * 64},
        started_by=run.started_by,
    )
    rows = []
    for r in CaseResult.objects.filter(run=run):
        kpis = dict(r.kpis, min_ttc=0.4) if r.case_id == flip else r.kpis
        rows.append(
            CaseResult(
                run=head,
                shard=r.shard,
                case_id=r.case_id,
                scenario=r.scenario,
                params=r.params,
                kpis=kpis,
            )
        )
    CaseResult.objects.bulk_create(rows)
    return head


def _passing_ac02_case(run: Run) -> str:
    for r in CaseResult.objects.filter(run=run, scenario="CCRs").order_by("case_id"):
        ttc = r.kpis.get("min_ttc")
        if 20 <= r.params["ego_speed"] <= 50 and isinstance(ttc, float) and ttc > 1.5:
            if not r.kpis.get("collision"):
                return r.case_id
    raise AssertionError("the demo run has no passing AC-02 case")


def test_a_viewer_reads_the_regression_and_an_engineer_records_it(as_user, demo_run):
    flip = _passing_ac02_case(demo_run)
    head = _worse_copy(demo_run, flip)
    url = reverse("ui:run-compare", args=["AEB", head.pk])
    viewer = as_user("vic")
    page = viewer.get(url).content.decode()
    assert f"run {demo_run.pk} of AEB-demo" in page  # offered as the base
    entries = LogEntry.objects.count()
    page = viewer.get(url, {"base": demo_run.pk}).content.decode()
    assert f"Run {head.pk} regressed against run {demo_run.pk}" in page
    assert f"<code>{flip}</code>" in page
    assert "AC-02: 1 case(s) flipped from pass to fail" in page
    assert "Record this comparison" not in page  # a viewer may not record
    assert LogEntry.objects.count() == entries  # reading records nothing
    record = reverse("ui:run-compare-record", args=["AEB", head.pk])
    assert viewer.post(record, {"base": demo_run.pk}).status_code == 403

    engineer = as_user("erin")
    assert "Record this comparison" in engineer.get(url, {"base": demo_run.pk}).content.decode()
    response = engineer.post(record, {"base": demo_run.pk})
    assert response.status_code == 302 and response["Location"].endswith(f"?base={demo_run.pk}")
    comparison = Comparison.objects.get(head=head)
    assert comparison.regressed and comparison.base == demo_run
    assert LogEntry.objects.count() == entries + 1
    page = engineer.get(response["Location"]).content.decode()
    assert f"#{comparison.entry.index}" in page


def test_equal_runs_show_no_regression_and_strangers_see_nothing(as_user, demo_run, stranger):
    head = _worse_copy(demo_run, flip="none")
    url = reverse("ui:run-compare", args=["AEB", head.pk])
    page = as_user("vic").get(url, {"base": demo_run.pk}).content.decode()
    assert f"No regression against run {demo_run.pk}" in page
    assert "No KPI of a matched case changed." in page
    from django.test import Client

    client = Client()
    client.force_login(stranger)
    assert client.get(url, {"base": demo_run.pk}).status_code == 404
    assert (
        as_user("erin")
        .post(reverse("ui:run-compare-record", args=["AEB", head.pk]), {"base": head.pk})
        .status_code
        == 302
    )  # the head itself is not offered as a base: refused, nothing recorded
    assert not Comparison.objects.exists()
