"""Coverage over a parameter space: hits per bin, holes, goals, the two-parameter grid, and a
run's coverage for one criterion (only the cases in its scope)."""

from __future__ import annotations

import numpy as np
import pytest

from validation import coverage, selectors, services
from validation.coverage import CoverageError


def _col(values):
    return np.array(list(values) + [None], dtype=object)[:-1]


def test_numeric_bins_count_every_case_once_and_name_the_holes():
    axis = coverage.numeric_axis("ego_speed", 10, 50, 4)
    assert axis.labels == ["10–20", "20–30", "30–40", "40–50"]
    column = _col([10, 19.9, 20, 35, 50, 50.0, None, 60, "fast", True])
    result = coverage.coverage(axis, column, goal=2)
    assert [b["hits"] for b in result["bins"]] == [2, 1, 1, 2]  # 50 is in the last bin
    assert result["outside"] == 4  # no value, above the range, text, a boolean
    assert result["holes"] == [] and result["below_goal"] == ["20–30", "30–40"]
    assert not result["met"]
    assert coverage.coverage(axis, _col([15, 25, 45]))["holes"] == ["30–40"]


def test_categorical_axes_and_the_grid():
    surface = coverage.axis_for("surface", _col(["dry", "wet", "dry", None]), bins=5)
    assert surface.values == ("dry", "wet")
    speed = coverage.axis_for("ego_speed", _col([10, 20, 30, 40]), bins=3)
    g = coverage.grid(
        speed, surface, _col([10, 20, 30, 40]), _col(["dry", "wet", "dry", None]), goal=1
    )
    assert g["counts"] == [[1, 0, 1], [0, 1, 0]]
    assert (g["holes"], g["below_goal"], g["cells"], g["outside"]) == (3, 3, 6, 1)


def test_list_values_are_bins_by_their_text():
    # A mined case's parameters hold lists (the actors of an event): not hashable, still binned.
    column = _col([["ego", "7"], ["ego", "9"], ["ego", "7"], None])
    actors = coverage.axis_for("actors", column, bins=5)
    assert actors.values == ("['ego', '7']", "['ego', '9']")
    assert [b["hits"] for b in coverage.coverage(actors, column)["bins"]] == [2, 1]


def test_bad_axes_and_goals_are_refused():
    with pytest.raises(CoverageError, match="1 to 100 bins"):
        coverage.numeric_axis("x", 0, 1, 0)
    with pytest.raises(CoverageError, match="at least 1 case per bin"):
        coverage.coverage(coverage.numeric_axis("x", 0, 1, 2), _col([0.5]), goal=0)
    with pytest.raises(CoverageError, match="no case has a value"):
        coverage.axis_for("x", _col([None, None]), 3)


def test_a_runs_coverage_for_a_criterion_counts_only_its_scope(
    project, members, criterion, campaign, django_capture_on_commit_callbacks
):
    criterion.scope = {"parameters": {"ego_speed": [20, 40]}}
    criterion.save(update_fields=["scope"])
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    everything = selectors.run_coverage(project=project, run=run, bins=4)
    assert everything["cases"] == 12
    scoped = selectors.run_coverage(
        project=project,
        run=run,
        criterion=criterion,
        bins=3,
        goal=2,
        x="ego_speed",
        y="initial_gap",
    )
    assert scoped["cases"] == 9  # ego speeds 20, 30, 40 of 20..50, by three gaps
    (speed,) = [p for p in scoped["parameters"] if p["parameter"] == "ego_speed"]
    assert [b["hits"] for b in speed["bins"]] == [3, 3, 3] and speed["met"]
    assert sum(map(sum, scoped["grid"]["counts"])) == 9
    assert scoped["grid"]["below_goal"] == scoped["grid"]["cells"]  # one case per cell
    with pytest.raises(CoverageError, match="nope: not a parameter"):
        selectors.run_coverage(project=project, run=run, x="nope", y="ego_speed")


def test_coverage_over_the_api(
    api, project, members, outsider, criterion, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    url = f"/api/v1/projects/AEB/runs/{run.pk}/coverage/"
    viewer = api(members["viewer"])
    data = viewer.get(url, {"criterion": "AC-02", "bins": 2, "x": "ego_speed", "y": "initial_gap"})
    assert data.status_code == 200, data.json()
    body = data.json()
    assert (body["criterion"], body["cases"], body["bins"]) == ("AC-02", 12, 2)
    assert body["grid"]["x"]["parameter"] == "ego_speed" and body["grid"]["cells"] == 4
    assert sum(map(sum, body["grid"]["counts"])) == 12
    assert viewer.get(url, {"criterion": "AC-99"}).status_code == 404
    response = viewer.get(url, {"x": "nope", "y": "ego_speed"})
    assert response.status_code == 404
    assert response.json() == {"detail": "nope: not a parameter of these cases"}
    assert viewer.get(url, {"x": "ego_speed"}).json()["grid"] is None  # a grid takes two
    assert viewer.get(url, {"bins": 0}).status_code == 400
    assert api(outsider).get(url).status_code == 404
    assert api().get(url).status_code == 401
