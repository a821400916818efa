"""The coverage page of a run: hits per bin and a heatmap of two parameters, as a viewer sees
it; the holes are drawn and counted."""

from __future__ import annotations

from django.urls import reverse


def test_a_viewer_sees_the_coverage_heatmap_of_a_criterion(as_user, demo_run):
    url = reverse("ui:run-coverage", args=["AEB", demo_run.pk])
    page = as_user("vic").get(
        url, {"criterion": "AC-02", "x": "ego_speed", "y": "initial_gap", "bins": 4, "goal": 2}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="chart heatmap"' in html
    assert "judged by AC-02, goal 2 per bin" in html
    # AC-02 judges CCRs from 20 to 50 km/h: ego speeds 20..50 in 5 km/h steps by five gaps,
    # on two surfaces and by day and at night: 7 x 5 x 4 = 140 cases.
    assert "140 cases judged by AC-02" in html
    assert html.count('<g class="cell') == 16
    assert "ego_speed: 20–27.5; initial_gap: 20–30" in html


def test_holes_are_drawn_and_a_bad_axis_is_explained(as_user, demo_run):
    url = reverse("ui:run-coverage", args=["AEB", demo_run.pk])
    html = as_user("vic").get(url, {"x": "ego_speed", "y": "initial_gap", "bins": 40}).content
    html = html.decode()
    assert '<g class="cell hole">' in html  # 5 km/h steps over 40 bins leave empty bins
    html = as_user("vic").get(url, {"x": "ego_speed", "y": "scenario"}).content.decode()
    assert 'class="chart heatmap"' in html  # a categorical axis
    assert as_user("vic").get(url, {"bins": "0"}).status_code == 200  # the form says why


def test_the_run_page_shows_each_criterions_recorded_coverage_linking_to_its_heatmap(
    as_user, demo_run
):
    from validation.models import Verdict

    html = as_user("vic").get(reverse("ui:run", args=["AEB", demo_run.pk])).content.decode()
    assert "<th" in html and ">Coverage</th>" in html
    verdicts = Verdict.objects.filter(run=demo_run).select_related("criterion")
    assert verdicts
    for v in verdicts:
        c = v.coverage
        page = reverse("ui:run-coverage", args=["AEB", demo_run.pk])
        link = (
            f"{page}?criterion={v.criterion.code}"
            f"&amp;bins={c['plan']['bins']}&amp;goal={c['goal']}#heatmap"
        )
        assert f'<a href="{link}">{c["bins_hit"]}/{c["bins_total"]} bins</a>' in html
        holes = c["holes"]
        assert f"{holes} hole{'' if holes == 1 else 's'}" in html


def test_the_heatmap_page_shows_the_coverage_recorded_with_the_verdict(as_user, demo_run):
    from validation.models import Verdict

    recorded = Verdict.objects.get(run=demo_run, criterion__code="AC-02").coverage
    url = reverse("ui:run-coverage", args=["AEB", demo_run.pk])
    html = as_user("vic").get(url, {"criterion": "AC-02"}).content.decode()
    assert "Recorded with the verdict on AC-02" in html
    assert f"<strong>{recorded['bins_hit']}/{recorded['bins_total']} bins</strong>" in html
    # Without a criterion only the cases are counted: nothing recorded to show.
    html = as_user("vic").get(url).content.decode()
    assert "Recorded with the verdict" not in html


def test_the_heatmap_of_a_criterion_reads_a_pinned_number_of_queries(
    as_user, demo_run, django_assert_num_queries
):
    client = as_user("sam")
    url = reverse("ui:run-coverage", args=["AEB", demo_run.pk])
    # the verdict with its recorded coverage, the scenarios speaking to the criterion, the ODD
    # tags: three more than the page without a criterion
    with django_assert_num_queries(11):
        assert client.get(url, {"criterion": "AC-02"}).status_code == 200
