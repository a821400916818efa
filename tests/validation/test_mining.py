"""Events mined from recorded tracks: each event class and its edges on tracks built here, and
the real CommonRoad (NGSIM) recordings."""

from __future__ import annotations

import io
import math
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.shared_data import shared_path
from validation import lake, mining
from validation.mining import MiningError, Thresholds

DT = 0.1
LENGTH = 4.5


def _track(obj, n, *, x0=0.0, v=20.0, a=0.0, lane=1, ego=False, t0=0.0, y=0.0, lanes=None):
    """Samples of one vehicle driving along +x at constant acceleration ``a`` (or a list)."""
    t = t0 + DT * np.arange(n)
    acc = np.full(n, a, dtype=float) if np.ndim(a) == 0 else np.asarray(a, dtype=float)
    speed = np.maximum(v + np.r_[0.0, np.cumsum(acc[:-1] * DT)], 0.0)
    x = x0 + np.r_[0.0, np.cumsum(speed[:-1] * DT)]
    return {
        "case_id": np.array(["c"] * n),
        "t": np.round(t, 6),
        "object_id": np.full(n, obj),
        "is_ego": np.full(n, ego),
        "x": x,
        "y": np.full(n, y),
        "vx": speed,
        "vy": np.zeros(n),
        "ax": acc,
        "ay": np.zeros(n),
        "length": np.full(n, LENGTH),
        "lane_id": np.asarray(lanes if lanes is not None else np.full(n, lane)),
    }


def _drive(*tracks):
    """Rows of several tracks in the lake layout (by time, then object)."""
    cols = {k: np.concatenate([t[k] for t in tracks]) for k in tracks[0]}
    order = np.lexsort((cols["object_id"], cols["t"]))
    return {k: v[order] for k, v in cols.items()}


def _kinds(events):
    return Counter(e.kind for e in events)


# --- hard braking -----------------------------------------------------------------------------


def test_braking_harder_than_4_is_one_event_with_its_span_and_peak():
    a = np.r_[np.zeros(10), -5.0, -6.5, -5.5, np.zeros(10)]
    events = mining.mine(_drive(_track(0, a.size, a=a, ego=True)), "drive.xml")
    assert [(e.kind, e.actors, e.t_start, e.t_end, e.peak) for e in events] == [
        ("hard_braking", (0,), 1.0, 1.2, 6.5)
    ]
    assert events[0].drive == "drive.xml" and events[0].unit == "m/s2"
    assert events[0].parameters == {"threshold": 4.0, "min_duration": 0.0}


def test_a_gentle_brake_is_no_event_unless_the_threshold_says_so():
    a = np.r_[np.zeros(5), np.full(10, -3.5), np.zeros(5)]
    drive = _drive(_track(0, a.size, a=a, ego=True))
    assert mining.mine(drive, "d") == []
    (event,) = mining.mine(drive, "d", Thresholds(hard_braking=3.0))
    assert (event.t_start, event.t_end, event.peak) == (0.5, 1.4, 3.5)


def test_a_short_spike_is_left_out_by_a_minimum_duration():
    a = np.r_[np.zeros(5), -8.0, np.zeros(5), np.full(5, -5.0), np.zeros(5)]
    drive = _drive(_track(0, a.size, a=a, ego=True))
    assert len(mining.mine(drive, "d")) == 2
    (event,) = mining.mine(drive, "d", Thresholds(min_duration=0.3))
    assert (event.t_start, event.t_end) == (1.1, 1.5)


def test_only_the_egos_events_unless_every_vehicle_is_mined():
    brake = np.r_[np.zeros(5), np.full(3, -6.0), np.zeros(5)]
    drive = _drive(_track(0, 13, ego=True), _track(7, 13, a=brake, lane=2, y=3.5))
    assert mining.mine(drive, "d") == []
    (event,) = mining.mine(drive, "d", Thresholds(all_vehicles=True))
    assert event.actors == (7,)


def test_a_gap_in_the_recording_splits_an_event_and_is_never_bridged():
    a = np.full(10, -5.0)
    track = _track(0, 10, a=a, ego=True)
    keep = np.r_[0:4, 7:10]  # samples 4..6 were not recorded
    gappy = {k: v[keep] for k, v in track.items()}
    events = mining.mine(gappy, "d")
    assert [(e.t_start, e.t_end) for e in events] == [(0.0, 0.3), (0.7, 0.9)]


# --- time to collision ------------------------------------------------------------------------


def _following(lead_lane=1):
    # ego 20 m/s, lead 10 m/s, 25 m bumper to bumper at t=0: TTC = 2.5 - t
    ego = _track(0, 16, v=20.0, ego=True)
    lead = _track(1, 16, x0=25.0 + LENGTH, v=10.0, lane=lead_lane)
    return _drive(ego, lead)


def test_ttc_under_2_s_against_the_lead_in_lane_is_an_event():
    (event,) = mining.mine(_following(), "d")
    assert (event.kind, event.actors) == ("low_ttc", (0, 1))
    assert (event.t_start, event.t_end) == (0.6, 1.5)
    assert event.peak == pytest.approx(1.0)
    assert event.parameters["gap_m"] == pytest.approx(10.0)
    # the worked check of REFERENCE.md: 25 m at 20 and 10 m/s is a TTC of 2.5 s, no event
    assert mining.mine(_following(), "d", Thresholds(ttc=1.0)) == []


def test_a_slower_vehicle_in_another_lane_is_no_lead():
    assert mining.mine(_following(lead_lane=2), "d") == []


def test_off_the_lane_network_nothing_is_a_lead():
    drive = _following()
    drive["lane_id"] = np.full(drive["t"].size, -1)
    assert mining.mine(drive, "d") == []


def test_a_vehicle_behind_is_no_lead():
    ego = _track(0, 16, x0=40.0, v=10.0, ego=True)
    faster_behind = _track(1, 16, v=20.0)
    assert mining.mine(_drive(ego, faster_behind), "d") == []


# --- cut-ins ----------------------------------------------------------------------------------


def _cutter(x0, change_at, v=20.0):
    lanes = np.r_[np.full(change_at, 2), np.full(20 - change_at, 1)]
    return _track(5, 20, x0=x0, v=v, lanes=lanes)


def test_a_vehicle_entering_the_ego_lane_ahead_within_the_gap_is_a_cut_in():
    drive = _drive(_track(0, 20, ego=True), _cutter(x0=15.0 + LENGTH, change_at=10))
    (event,) = mining.mine(drive, "d")
    assert (event.kind, event.actors, event.t_start, event.t_end) == ("cut_in", (0, 5), 0.9, 1.0)
    assert event.peak == pytest.approx(15.0)
    assert event.parameters == {
        "gap_threshold": 30.0,
        "from_lane": 2,
        "to_lane": 1,
        "thw_s": pytest.approx(0.75),
    }


def test_a_lane_change_behind_or_far_ahead_is_no_cut_in():
    behind = _drive(_track(0, 20, x0=30.0, ego=True), _cutter(x0=0.0, change_at=10))
    assert mining.mine(behind, "d") == []
    far = _drive(_track(0, 20, ego=True), _cutter(x0=60.0, change_at=10))
    assert mining.mine(far, "d") == []
    assert len(mining.mine(far, "d", Thresholds(cut_in_gap=60.0))) == 1


def test_a_lane_change_across_a_gap_in_the_recording_is_no_cut_in():
    cutter = _cutter(x0=15.0 + LENGTH, change_at=10)
    keep = np.r_[0:8, 12:20]
    drive = _drive(_track(0, 20, ego=True), {k: v[keep] for k, v in cutter.items()})
    assert mining.mine(drive, "d") == []


# --- bad input --------------------------------------------------------------------------------


def test_an_empty_track_is_refused():
    empty = {k: v[:0] for k, v in _track(0, 3, ego=True).items()}
    with pytest.raises(MiningError, match=r"^the track is empty: no samples to mine$"):
        mining.mine(empty, "d")


def test_a_missing_or_nan_sample_is_refused_naming_the_object_and_time():
    drive = _following()
    drive["vx"][5] = np.nan
    with pytest.raises(MiningError) as caught:
        mining.mine(drive, "d")
    assert str(caught.value) == (
        "1 sample(s) have no finite 'vx', the first of object 1 at t=0.2 s in case 'c'"
    )
    table = pa.table(_following())
    nulls = table.set_column(
        table.schema.get_field_index("x"), "x", pa.array([None] * table.num_rows, pa.float64())
    )
    with pytest.raises(MiningError, match=r"column 'x' has missing values"):
        mining.mine(nulls, "d")
    with pytest.raises(MiningError, match=r"lacks column 'lane_id'|lacks column 'ax'"):
        mining.mine(table.drop(["ax"]), "d")


def test_a_track_out_of_time_order_is_refused():
    drive = _following()
    ego_rows = np.flatnonzero(drive["object_id"] == 0)
    drive["t"][ego_rows[[3, 4]]] = drive["t"][ego_rows[[4, 3]]]
    with pytest.raises(MiningError) as caught:
        mining.mine(drive, "d")
    assert str(caught.value) == (
        "object 0 of case 'c' goes back in time to t=0.3 s: its samples must be in time order"
    )
    twice = _following()
    twice["t"][ego_rows[4]] = twice["t"][ego_rows[3]]
    with pytest.raises(MiningError, match=r"object 0 of case 'c' has two samples at t=0.3 s"):
        mining.mine(twice, "d")


def test_bad_thresholds_are_refused():
    with pytest.raises(MiningError, match="threshold ttc must be a positive number"):
        Thresholds(ttc=-1.0)
    with pytest.raises(MiningError, match="threshold hard_braking"):
        Thresholds(hard_braking=math.nan)


def test_a_file_that_is_neither_commonroad_nor_parquet_is_refused_by_its_name():
    with pytest.raises(MiningError, match=r"^notes\.txt: "):
        mining.read_drive(b"hello", "notes.txt")
    with pytest.raises(MiningError, match=r"^empty\.parquet: the file is empty$"):
        mining.read_drive(b"", "empty.parquet")


# --- exposure ---------------------------------------------------------------------------------


def test_exposure_is_the_mined_vehicles_path_and_time_without_gaps():
    ego = _track(0, 11, v=20.0, ego=True)  # 1 s at 20 m/s
    other = _track(1, 11, v=10.0, lane=2)
    drive = _drive(ego, other)
    assert mining.exposure(drive) == {"distance_km": 0.02, "duration_s": 1.0}
    assert mining.exposure(drive, Thresholds(all_vehicles=True)) == {
        "distance_km": 0.03,
        "duration_s": 2.0,
    }
    keep = np.r_[0:3, 8:11]
    gappy = {k: v[keep] for k, v in ego.items()}
    assert mining.exposure(gappy)["duration_s"] == pytest.approx(0.4)


# --- landed Parquet drives and the real recordings --------------------------------------------


def test_a_landed_parquet_drive_is_mined_like_a_recording():
    params = {"scenario": "ccrs", "ego_speed": 50.0, "initial_gap": 40.0}
    table = lake.generate_drive("case-1", params, seed=1, drive_id="drive-1")
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    read = mining.read_drive(buffer.getvalue(), "drive-1.parquet")
    events = mining.mine(read, "drive-1.parquet")
    assert events == mining.mine(table, "drive-1.parquet")
    kinds = _kinds(events)
    assert kinds["hard_braking"] >= 1  # the AEB brakes for the stopped target
    (brake, *_) = [e for e in events if e.kind == "hard_braking"]
    values = lake.validate_table(table).to_pydict()
    ego_a = [a for a, e in zip(values["ax"], values["is_ego"], strict=True) if e]
    assert brake.peak == pytest.approx(max(-min(ego_a), 0.0))


RECORDINGS = {
    # file: (events of the ego, events of every vehicle)
    "commonroad-io__USA_US101-3_3_T-1.xml": (
        {"hard_braking": 2},
        {"hard_braking": 29, "cut_in": 1, "low_ttc": 1},
    ),
    "commonroad-io__USA_US101-4_1_T-1.xml": ({"low_ttc": 2}, {"low_ttc": 3, "cut_in": 1}),
    "commonroad-io__USA_Peach-4_8_T-1.xml": ({}, {"low_ttc": 1}),
}


def _naive_ttc(rows, t, follower, leader):
    """TTC of ``follower`` to ``leader`` at ``t``, row by row."""
    f = next(r for r in rows if r["t"] == t and r["object_id"] == follower)
    g = next(r for r in rows if r["t"] == t and r["object_id"] == leader)
    speed = math.hypot(f["vx"], f["vy"])
    c, s = f["vx"] / speed, f["vy"] / speed
    gap = (g["x"] - f["x"]) * c + (g["y"] - f["y"]) * s - (f["length"] + g["length"]) / 2
    closing = speed - (g["vx"] * c + g["vy"] * s)
    return gap / closing if gap > 0 else 0.0


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_the_real_recordings_yield_their_events(name):
    path = shared_path("data", "real", "commonroad", name)
    table = mining.read_drive(path.read_bytes(), name)
    ego_kinds, all_kinds = RECORDINGS[name]
    assert _kinds(mining.mine(table, name)) == Counter(ego_kinds)
    events = mining.mine(table, name, Thresholds(all_vehicles=True))
    assert _kinds(events) == Counter(all_kinds)
    rows = table.to_pylist()
    for event in events:
        assert event.drive == name and event.t_start <= event.t_end
        if event.kind == "low_ttc":
            worst = min(
                _naive_ttc(rows, round(t, 6), *event.actors)
                for t in np.arange(event.t_start, event.t_end + DT / 2, DT)
            )
            assert event.peak == pytest.approx(worst, abs=1e-6)
            assert event.peak < 2.0
        if event.kind == "hard_braking":
            assert event.peak > 4.0
    # the same recording gives the same events, in the same order
    again = mining.mine(table, name, Thresholds(all_vehicles=True))
    assert mining.events_digest(again) == mining.events_digest(events)
