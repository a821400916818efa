"""Track schema, Parquet I/O, the AEB drive generator and the CommonRoad converter."""

from __future__ import annotations

import math
import xml.etree.ElementTree as StdET  # the test's independent count of the real files

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.shared_data import shared_path
from validation.kpis import case_kpis
from validation.lake import (
    TRACK_SCHEMA,
    LakeError,
    commonroad_to_table,
    generate_drive,
    generate_lake,
    read_tracks,
    validate_table,
    write_tracks,
)

DT = 0.1

# --------------------------------------------------------------------------------------------
# Schema and validation
# --------------------------------------------------------------------------------------------


def test_schema_has_the_documented_columns_and_types():
    expected = {
        "drive_id": pa.string(),
        "case_id": pa.string(),
        "t": pa.float64(),
        "object_id": pa.int32(),
        "is_ego": pa.bool_(),
        "x": pa.float64(),
        "y": pa.float64(),
        "vx": pa.float64(),
        "vy": pa.float64(),
        "ax": pa.float64(),
        "ay": pa.float64(),
        "length": pa.float64(),
        "width": pa.float64(),
        "lane_id": pa.int32(),
        "lane_offset": pa.float64(),
        "lane_width": pa.float64(),
    }
    assert {f.name: f.type for f in TRACK_SCHEMA} == expected
    assert TRACK_SCHEMA.field("vx").metadata[b"unit"] == b"m/s"


@pytest.fixture
def small_table():
    return generate_drive("c1", {"scenario": "ccrs", "ego_speed": 30}, seed=1)


def test_validate_accepts_a_generated_table(small_table):
    assert validate_table(small_table) is small_table


def test_validate_reports_missing_columns(small_table):
    with pytest.raises(LakeError, match="lacks column.*lane_width"):
        validate_table(small_table.drop_columns(["lane_width"]))


def test_validate_reports_wrong_types(small_table):
    i = small_table.schema.get_field_index("object_id")
    bad = small_table.set_column(i, "object_id", small_table.column("object_id").cast(pa.int64()))
    with pytest.raises(LakeError, match="object_id is int64, expected int32"):
        validate_table(bad)


def test_validate_refuses_empty_tables(small_table):
    with pytest.raises(LakeError, match="empty"):
        validate_table(small_table.slice(0, 0))


def test_validate_refuses_nulls(small_table):
    i = small_table.schema.get_field_index("x")
    x = pa.array([None] + small_table.column("x").to_pylist()[1:], pa.float64())
    with pytest.raises(LakeError, match="nulls in: x"):
        validate_table(small_table.set_column(i, "x", x))


def test_validate_refuses_non_tables():
    with pytest.raises(LakeError, match="pyarrow.Table"):
        validate_table({"x": [1.0]})


def test_write_and_read_round_trip(tmp_path, small_table):
    path = write_tracks(small_table, tmp_path / "a.parquet")
    assert read_tracks(path).equals(small_table)


def test_read_refuses_corrupt_files(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet at all PAR1")
    with pytest.raises(LakeError, match="bad.parquet: not a readable Parquet file"):
        read_tracks(bad)


def test_read_refuses_empty_files(tmp_path):
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    with pytest.raises(LakeError, match="empty file"):
        read_tracks(empty)


def test_read_refuses_parquet_without_rows(tmp_path, small_table):
    path = tmp_path / "norows.parquet"
    pq.write_table(small_table.slice(0, 0), path)
    with pytest.raises(LakeError, match="norows.parquet: track table is empty"):
        read_tracks(path)


def test_read_refuses_parquet_of_another_schema(tmp_path):
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), path)
    with pytest.raises(LakeError, match="lacks column"):
        read_tracks(path)


def test_read_refuses_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(LakeError, match="no such file"):
        read_tracks(tmp_path / "nothing")
    with pytest.raises(LakeError, match="no .parquet files"):
        read_tracks(tmp_path)


# --------------------------------------------------------------------------------------------
# Generated drives
# --------------------------------------------------------------------------------------------


def _object(table, object_id):
    d = table.filter(pa.compute.equal(table.column("object_id"), object_id)).to_pydict()
    return {k: np.array(v) for k, v in d.items()}


def test_same_seed_same_table_other_seed_other_table():
    params = {"scenario": "ccrm", "ego_speed": 60, "target_speed": 20}
    a = generate_drive("c", params, seed=4)
    b = generate_drive("c", params, seed=4)
    c = generate_drive("c", params, seed=5)
    assert a.equals(b)
    assert not a.equals(c)


def test_drive_layout(small_table):
    d = small_table.to_pydict()
    n_objects = 4  # ego, target, two background vehicles
    assert small_table.num_rows % n_objects == 0
    steps = small_table.num_rows // n_objects
    assert d["t"][::n_objects] == pytest.approx([round(k * DT, 6) for k in range(steps)])
    assert d["object_id"][:n_objects] == [0, 1, 2, 3]
    assert sum(d["is_ego"]) == steps
    assert set(d["case_id"]) == {"c1"} and set(d["drive_id"]) == {"c1"}
    # ego in lane 1, background vehicles in lanes 0 and 2
    ego = _object(small_table, 0)
    assert set(ego["lane_id"].tolist()) == {1}
    assert {
        int(_object(small_table, 2)["lane_id"][0]),
        int(_object(small_table, 3)["lane_id"][0]),
    } == {0, 2}


@pytest.mark.parametrize(
    "params",
    [
        {"scenario": "ccrs", "ego_speed": 50},
        {"scenario": "ccrb", "ego_speed": 60, "target_decel": 6, "initial_gap": 20},
        {"scenario": "cut_in", "ego_speed": 70, "target_speed": 40, "initial_gap": 15},
    ],
)
def test_kinematics_are_integrated_consistently(params):
    table = generate_drive("k", params, seed=3)
    for oid in (0, 1):
        o = _object(table, oid)
        v, x, a = o["vx"], o["x"], o["ax"]
        # the acceleration of a row acts until the next row
        assert np.diff(v) == pytest.approx(a[:-1] * DT, abs=1e-9)
        assert np.diff(x) == pytest.approx((v[:-1] + v[1:]) / 2 * DT, abs=1e-9)
        assert (v >= 0).all()
        # lateral motion: centred differences of y agree with vy
        vy_mid = (o["vy"][:-1] + o["vy"][1:]) / 2
        assert np.diff(o["y"]) / DT == pytest.approx(vy_mid, abs=0.02)


def test_aeb_avoids_a_stopped_car_at_30_kph():
    table = generate_drive("c", {"scenario": "ccrs", "ego_speed": 30}, seed=2)
    k = case_kpis(table)["c"]
    assert k["collision"] is False
    assert k["min_ttc"] > 1.0
    assert k["first_brake_time"] is not None
    assert 0.0 < k["max_deceleration"] <= 10.0 + 1e-9
    ego = _object(table, 0)
    assert ego["vx"][-1] == 0.0  # stopped before the target


def test_without_aeb_the_ego_hits_the_stopped_car_at_full_speed():
    table = generate_drive("c", {"scenario": "ccrs", "ego_speed": 50, "aeb": False}, seed=2)
    k = case_kpis(table)["c"]
    assert k["collision"] is True
    assert k["first_brake_time"] is None
    # closing speed along the heading; the lateral wander adds at most a few mm/s
    assert k["impact_speed"] == pytest.approx(50 / 3.6, abs=0.01)


def test_wet_road_limits_braking_and_the_jerk_limit_holds():
    table = generate_drive("c", {"scenario": "ccrs", "ego_speed": 75, "surface": "wet"}, seed=2)
    k = case_kpis(table)["c"]
    # braking is capped at mu * g = 5.886 m/s² (the ego's small lateral wander adds a trace of
    # lateral acceleration to the projected value)
    assert k["max_deceleration"] == pytest.approx(0.6 * 9.81, abs=0.01)
    assert np.abs(_object(table, 0)["ax"]).max() <= 0.6 * 9.81 + 1e-9
    # a collision ends the drive before standstill, so no stopping spike: jerk <= 30 m/s³
    assert k["collision"] is True
    assert k["max_jerk"] == pytest.approx(30.0, abs=0.01)
    assert np.abs(np.diff(_object(table, 0)["ax"])).max() / DT <= 30.0 + 1e-9


def test_cut_in_vehicle_becomes_the_lead():
    table = generate_drive(
        "c", {"scenario": "cut_in", "ego_speed": 60, "target_speed": 40, "initial_gap": 20}, seed=1
    )
    target = _object(table, 1)
    assert target["lane_id"][0] == 2 and target["lane_id"][-1] == 1
    k = case_kpis(table)["c"]
    assert math.isfinite(k["min_distance"])
    assert k["first_brake_time"] is not None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"scenario": "ccrx"}, "scenario must be one of"),
        ({"ego_sped": 50}, "unknown drive parameter.*ego_sped"),
        ({"lateral_offset": 2.5}, "lateral_offset"),
        ({"surface": "icy"}, "friction must be one of"),
        ({"initial_gap": -5}, "initial_gap"),
    ],
)
def test_bad_drive_parameters_are_refused(params, message):
    with pytest.raises(LakeError, match=message):
        generate_drive("c", params, seed=0)


def test_generate_lake_is_reproducible_and_readable(tmp_path):
    a = generate_lake(tmp_path / "a", n_cases=30, seed=9, cases_per_drive=8)
    b = generate_lake(tmp_path / "b", n_cases=30, seed=9, cases_per_drive=8)
    assert a["drives"] == 4 and a["cases"] == 30
    assert len(a["files"]) == 4
    for i, (fa, fb) in enumerate(zip(a["files"], b["files"], strict=True)):
        assert fa.endswith(f"drive=drive-{i:05d}/part-0.parquet")
        assert open(fa, "rb").read() == open(fb, "rb").read()
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (
        tmp_path / "b" / "manifest.json"
    ).read_bytes()
    table = read_tracks(tmp_path / "a")
    assert table.num_rows == a["rows"]
    kpis = case_kpis(table)
    assert len(kpis) == 30
    # the generator's collision flags agree with the KPI computation
    assert sum(k["collision"] for k in kpis.values()) == a["collisions"]
    assert 0 < a["collisions"] < 15


def test_generate_lake_reaches_a_row_target(tmp_path):
    summary = generate_lake(tmp_path, n_cases=6, rows_target=5000, seed=1)
    table = read_tracks(tmp_path)
    assert table.num_rows == summary["rows"]
    # at most one extra object per case beyond the target: < one case's step count (101)
    assert 5000 <= summary["rows"] < 5000 + 101


# --------------------------------------------------------------------------------------------
# CommonRoad
# --------------------------------------------------------------------------------------------

COMMONROAD = {
    # file: (format, dynamic obstacles, states over all obstacles) as counted by hand-written
    # ElementTree code below and checked once against the files
    "commonroad-io__USA_US101-4_1_T-1.xml": ("2020a", 22, 1271),
    "commonroad-io__USA_US101-3_3_T-1.xml": ("2018b", 12, 384),
    "commonroad-io__USA_Peach-4_8_T-1.xml": ("2020a", 9, 368),
}


def _independent_count(path):
    root = StdET.parse(path).getroot()
    obstacles = root.findall("dynamicObstacle") + [
        o for o in root.findall("obstacle") if o.findtext("role") == "dynamic"
    ]
    per_obstacle = {int(o.get("id")): 1 + len(o.findall("trajectory/state")) for o in obstacles}
    lanelets = {int(ll.get("id")) for ll in root.findall("lanelet")}
    return root, per_obstacle, lanelets


@pytest.mark.parametrize("name", sorted(COMMONROAD))
def test_commonroad_conversion(name):
    path = shared_path("data", "real", "commonroad", name)
    fmt, n_obstacles, n_states = COMMONROAD[name]
    root, per_obstacle, lanelets = _independent_count(path)
    assert root.get("commonRoadVersion") == fmt
    assert len(per_obstacle) == n_obstacles
    assert sum(per_obstacle.values()) == n_states

    table = commonroad_to_table(path, drive_id=name)
    validate_table(table)
    d = {k: np.array(v) for k, v in table.to_pydict().items()}
    assert table.num_rows == n_states
    assert len(set(d["object_id"].tolist())) == n_obstacles
    counts = {
        int(o): int(c) for o, c in zip(*np.unique(d["object_id"], return_counts=True), strict=True)
    }
    assert counts == per_obstacle
    assert set(d["case_id"].tolist()) == {name}

    # time steps of 0.1 s, one row per obstacle and step
    steps = d["t"] / 0.1
    assert np.allclose(steps, np.round(steps))
    pairs = set(zip(d["object_id"].tolist(), np.round(steps).astype(int).tolist(), strict=True))
    assert len(pairs) == n_states

    # ego: the obstacle with the most states (smallest id on a tie)
    ego_id = min(per_obstacle, key=lambda i: (-per_obstacle[i], i))
    assert set(d["object_id"][d["is_ego"]].tolist()) == {ego_id}

    # recorded traffic: speeds 0..40 m/s, plausible accelerations and sizes
    speed = np.hypot(d["vx"], d["vy"])
    assert speed.min() >= 0.0 and speed.max() < 40.0
    assert np.abs(np.hypot(d["ax"], d["ay"])).max() < 12.0
    assert ((d["length"] > 2.0) & (d["length"] < 25.0)).all()

    # lanes: merged lanelet chains named by a lanelet id, or -1 off the network
    assert set(d["lane_id"].tolist()) <= lanelets | {-1}
    assert (d["lane_id"] != -1).mean() > 0.9
    on = d["lane_id"] != -1
    assert (np.abs(d["lane_offset"][on]) <= d["lane_width"][on] / 2 + 2.0).all()

    k = case_kpis(table)
    assert list(k) == [name]
    assert k[name]["steps"] == per_obstacle[ego_id]
    assert k[name]["collision"] is False


def test_commonroad_highway_ego_has_a_lead():
    name = "commonroad-io__USA_US101-4_1_T-1.xml"
    k = case_kpis(commonroad_to_table(shared_path("data", "real", "commonroad", name), "d"))["d"]
    assert 0.0 < k["min_distance"] < 50.0
    assert 0.0 < k["min_ttc"] < math.inf
    assert k["max_deceleration"] > 0.0


def test_commonroad_2018b_accelerations_are_derived_from_the_speed():
    path = shared_path("data", "real", "commonroad", "commonroad-io__USA_US101-3_3_T-1.xml")
    root = StdET.parse(path).getroot()
    ob = next(o for o in root.findall("obstacle") if o.findtext("role") == "dynamic")
    states = [ob.find("initialState"), *ob.findall("trajectory/state")]
    v = np.array([float(s.findtext("velocity/exact")) for s in states])
    theta = np.array([float(s.findtext("orientation/exact")) for s in states])
    expected = np.r_[np.diff(v) / 0.1, (v[-1] - v[-2]) / 0.1]
    o = _object(commonroad_to_table(path, "d"), int(ob.get("id")))
    assert o["ax"] == pytest.approx(expected * np.cos(theta), abs=1e-9)
    assert o["ay"] == pytest.approx(expected * np.sin(theta), abs=1e-9)
    assert o["vx"] == pytest.approx(v * np.cos(theta))


def test_commonroad_accepts_bytes():
    path = shared_path("data", "real", "commonroad", "commonroad-io__USA_Peach-4_8_T-1.xml")
    assert commonroad_to_table(path.read_bytes(), "d").num_rows == 368


HOSTILE = b"""<?xml version="1.0"?>
<!DOCTYPE commonRoad [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<commonRoad timeStepSize="0.1"><dynamicObstacle id="1"><type>&x;</type></dynamicObstacle>
</commonRoad>"""


def test_commonroad_refuses_doctype_and_entities():
    with pytest.raises(LakeError, match="DOCTYPE"):
        commonroad_to_table(HOSTILE, "d")


def test_commonroad_refuses_other_documents():
    with pytest.raises(LakeError, match="not 'commonRoad'"):
        commonroad_to_table(b"<OpenSCENARIO/>", "d")
    with pytest.raises(LakeError, match="not well-formed"):
        commonroad_to_table(b"<commonRoad", "d")
    with pytest.raises(LakeError, match="no dynamic obstacles"):
        commonroad_to_table(b'<commonRoad timeStepSize="0.1"/>', "d")
