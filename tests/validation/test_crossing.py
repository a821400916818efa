"""The crossing pedestrian (CPNA-like) of the drive simulator, judged through the same KPIs."""

import pytest

from validation import lake
from validation.execution.local import compute


def kpis_of(**params):
    case = {
        "case_id": "c",
        "scenario": "CPNA",
        "params": {"scenario": "cpna", **params},
        "source": {"kind": "simulate", "seed": 3},
    }
    return compute([case])["c"]


def test_the_pedestrian_walks_across_the_ego_path():
    table = lake.generate_drive("c", {"scenario": "cpna", "ego_speed": 30, "aeb": False}, seed=3)
    rows = table.to_pydict()
    walker = [i for i, o in enumerate(rows["object_id"]) if o == 1]
    ys = [rows["y"][i] for i in walker]
    assert ys[0] == pytest.approx(-6.0) and ys[-1] > ys[0]
    assert [rows["vy"][i] for i in walker] == pytest.approx([5 / 3.6] * len(walker))
    assert {rows["length"][i] for i in walker} == {0.5}


def test_without_aeb_the_ego_meets_the_pedestrian_at_its_speed():
    k = kpis_of(ego_speed=30, aeb=False)
    assert k["collision"] and k["impact_speed_kmh"] == pytest.approx(30, abs=0.5)


def test_the_aeb_stops_for_a_pedestrian_by_day_and_too_late_at_night_on_wet_roads():
    day = kpis_of(ego_speed=40, surface="dry", lighting="day")
    assert not day["collision"] and day["impact_speed_kmh"] == 0.0
    assert day["first_brake_time"] is not None
    night = kpis_of(ego_speed=60, surface="wet", lighting="night")
    assert night["collision"] and night["impact_speed_kmh"] > 10.0


@pytest.mark.parametrize(
    "params",
    [
        {"initial_gap": 20},
        {"lateral_offset": 0.2},
        {"impact_point": 1.5},
        {"pedestrian_speed": 40},
    ],
)
def test_a_crossing_that_cannot_be_placed_is_refused(params):
    with pytest.raises(lake.LakeError):
        lake.generate_drive("c", {"scenario": "cpna", "ego_speed": 30, **params})
