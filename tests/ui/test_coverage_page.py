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
