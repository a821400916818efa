"""KPI formulas against REFERENCE.md section 8 ("Worked KPI checks") and per-case aggregation.

Every expected number in the worked-check tests is copied from the reference table, not
computed with the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from validation import kpis
from validation.kpis import KpiError, case_kpis

# --------------------------------------------------------------------------------------------
# REFERENCE.md §8 worked KPI checks
# --------------------------------------------------------------------------------------------

# Car following: v_f = 20 m/s, v_l = 10 m/s, d = 25 m
V_F, V_L, GAP = 20.0, 10.0, 25.0
# TTC trace at dt = 0.1 s, tau = 1.5 s
TTC_TRACE = [3.0, 2.5, 2.0, 1.6, 1.4, 1.2, 1.1, 1.3, 1.6, 2.2]
# Accel trace at 0.1 s
ACCEL_TRACE = [0.0, -1.0, -3.0, -5.5, -6.0]


def test_ttc_car_following():
    assert kpis.ttc(GAP, V_F, V_L) == pytest.approx(2.5)


def test_thw_car_following():
    assert kpis.thw(GAP, V_F) == pytest.approx(1.25)


def test_drac_car_following():
    assert kpis.drac(GAP, V_F, V_L) == pytest.approx(2.0)


def test_dst_car_following_with_one_second_safety_time():
    assert kpis.dst(GAP, V_F, V_L, t_safety=1.0) == pytest.approx(3.333, abs=5e-4)


def test_required_deceleration_with_lead_braking():
    assert kpis.required_deceleration(GAP, V_F, V_L, a_lead=-2.0) == pytest.approx(-4.0)


def test_pet():
    assert kpis.pet(12.3, 13.1) == pytest.approx(0.8)


def test_tet_tit_and_min_ttc_of_the_trace():
    assert kpis.tet(TTC_TRACE, tau=1.5, dt=0.1) == pytest.approx(0.4)
    assert kpis.tit(TTC_TRACE, tau=1.5, dt=0.1) == pytest.approx(0.1)
    assert kpis.min_ttc(TTC_TRACE) == pytest.approx(1.1)


def test_lane_exceedance():
    assert kpis.lane_exceedance(1.2, w_vehicle=1.8, w_lane=3.5) == pytest.approx(0.35)


def test_time_to_line_crossing():
    assert kpis.time_to_line_crossing(0.5, 0.5, w_vehicle=1.8, w_lane=3.5) == pytest.approx(0.7)


def test_max_deceleration_and_jerk_of_the_accel_trace():
    assert kpis.max_deceleration(ACCEL_TRACE) == pytest.approx(6.0)
    assert kpis.max_abs_jerk(ACCEL_TRACE, dt=0.1) == pytest.approx(25.0)


def test_rss_minimum_distance():
    d = kpis.rss_min_distance(
        v_rear=20.0, v_front=10.0, rho=0.5, a_accel_max=3.5, b_min=4.0, b_max=8.0
    )
    assert d == pytest.approx(63.32, abs=5e-3)


# --------------------------------------------------------------------------------------------
# Edge cases of the elementary functions
# --------------------------------------------------------------------------------------------


def test_ttc_is_infinite_when_not_closing_and_zero_when_touching():
    assert kpis.ttc(25.0, 10.0, 10.0) == math.inf
    assert kpis.ttc(25.0, 5.0, 10.0) == math.inf
    assert kpis.ttc(0.0, 20.0, 10.0) == 0.0


def test_ttc_vectorised():
    out = kpis.ttc(np.array([25.0, 10.0, 5.0]), np.array([20.0, 10.0, 15.0]), 10.0)
    assert isinstance(out, np.ndarray)
    assert out.tolist() == [2.5, math.inf, 1.0]


def test_drac_and_dst_are_zero_when_not_closing():
    assert kpis.drac(25.0, 10.0, 12.0) == 0.0
    assert kpis.dst(25.0, 10.0, 12.0, t_safety=1.0) == 0.0
    assert kpis.required_deceleration(25.0, 10.0, 12.0, a_lead=-2.0) == pytest.approx(-2.0)


def test_dst_is_infinite_when_the_safety_margin_is_used_up():
    # gap 8 m, lead at 10 m/s, t_s = 1 s: margin 8 - 10 < 0
    assert kpis.dst(8.0, 20.0, 10.0, t_safety=1.0) == math.inf


def test_thw_of_a_standing_follower_is_infinite():
    assert kpis.thw(10.0, 0.0) == math.inf


def test_pet_undefined_when_both_occupy_the_area():
    assert math.isnan(kpis.pet(13.1, 12.3))


def test_tet_ignores_samples_above_tau_and_inf():
    assert kpis.tet([math.inf, 2.0, 1.5, 0.5], tau=1.5, dt=0.2) == pytest.approx(0.4)
    assert kpis.tit([math.inf, 2.0, 1.5, 0.5], tau=1.5, dt=0.2) == pytest.approx(0.2)


def test_jerk_uses_the_forward_difference():
    assert kpis.jerk([0.0, -1.0, -3.0], dt=0.5).tolist() == [-2.0, -4.0]
    assert kpis.max_abs_jerk([1.0], dt=0.1) == 0.0


def test_lane_exceedance_is_zero_inside_the_lane():
    assert kpis.lane_exceedance(0.3, 1.8, 3.5) == 0.0
    assert kpis.lane_exceedance(-1.2, 1.8, 3.5) == pytest.approx(0.35)


def test_tlc_direction_and_no_lateral_motion():
    # drifting right from e = 0.5 m: margin 0.85 + 0.5 = 1.35 m at 0.5 m/s
    assert kpis.time_to_line_crossing(0.5, -0.5, 1.8, 3.5) == pytest.approx(2.7)
    assert kpis.time_to_line_crossing(0.5, 0.0, 1.8, 3.5) == math.inf
    assert kpis.time_to_line_crossing(1.0, 0.5, 1.8, 3.5) == 0.0


def test_rss_distance_is_never_negative():
    assert kpis.rss_min_distance(5.0, 30.0, 0.5, 3.5, 4.0, 8.0) == 0.0


# --------------------------------------------------------------------------------------------
# case_kpis
# --------------------------------------------------------------------------------------------

EGO_LEN, LEAD_LEN = 4.0, 5.0


def _rows(case_id, t, object_id, is_ego, x, v, a=0.0, lane=1, length=None, y=0.0):
    return {
        "drive_id": "d",
        "case_id": case_id,
        "t": t,
        "object_id": object_id,
        "is_ego": is_ego,
        "x": x,
        "y": y,
        "vx": v,
        "vy": 0.0,
        "ax": a,
        "ay": 0.0,
        "length": length if length is not None else (EGO_LEN if is_ego else LEAD_LEN),
        "width": 1.8,
        "lane_id": lane,
        "lane_offset": 0.0,
        "lane_width": 3.5,
    }


def _table(rows):
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    return pa.table(
        {
            "drive_id": pa.array(cols["drive_id"], pa.string()),
            "case_id": pa.array(cols["case_id"], pa.string()),
            "t": pa.array(cols["t"], pa.float64()),
            "object_id": pa.array(cols["object_id"], pa.int32()),
            "is_ego": pa.array(cols["is_ego"], pa.bool_()),
            **{
                k: pa.array(cols[k], pa.float64())
                for k in ("x", "y", "vx", "vy", "ax", "ay", "length", "width")
            },
            "lane_id": pa.array(cols["lane_id"], pa.int32()),
            "lane_offset": pa.array(cols["lane_offset"], pa.float64()),
            "lane_width": pa.array(cols["lane_width"], pa.float64()),
        }
    )


def _trace_case(case_id="trace"):
    """Ego at 20 m/s behind a lead at 10 m/s; gaps chosen so the TTC follows TTC_TRACE.

    A vehicle in the next lane sits closer and a vehicle behind the ego shares its lane; neither
    may be taken as the lead. The ego's acceleration follows ACCEL_TRACE, then stays at -6.
    """
    rows = []
    for k, ttc_value in enumerate(TTC_TRACE):
        t = round(0.1 * k, 10)
        gap = ttc_value * (V_F - V_L)
        a = ACCEL_TRACE[k] if k < len(ACCEL_TRACE) else -6.0
        rows.append(_rows(case_id, t, 0, True, 0.0, V_F, a=a))
        rows.append(_rows(case_id, t, 1, False, gap + (EGO_LEN + LEAD_LEN) / 2, V_L))
        rows.append(_rows(case_id, t, 2, False, 3.0, 0.0, lane=2, y=3.5))
        rows.append(_rows(case_id, t, 3, False, -20.0, 30.0))
    return rows


def test_case_kpis_reproduces_the_reference_trace():
    result = case_kpis(_table(_trace_case()), tau=1.5)
    k = result["trace"]
    assert k["min_ttc"] == pytest.approx(1.1)
    assert k["tet"] == pytest.approx(0.4)
    assert k["tit"] == pytest.approx(0.1)
    # smallest gap: TTC 1.1 s at a closing speed of 10 m/s
    assert k["min_distance"] == pytest.approx(11.0)
    assert k["max_deceleration"] == pytest.approx(6.0)
    assert k["max_jerk"] == pytest.approx(25.0)
    # first sample below -1 m/s² is -3 m/s² at t = 0.2 s (-1 itself does not count)
    assert k["first_brake_time"] == pytest.approx(0.2)
    assert k["collision"] is False
    assert k["collision_time"] is None
    assert k["impact_speed"] is None
    assert k["steps"] == 10
    assert k["start"] == 0.0 and k["end"] == pytest.approx(0.9)
    # THW at the smallest gap: 11 m / 20 m/s; DRAC at it: 10² / (2 · 11)
    assert k["min_thw"] == pytest.approx(11.0 / 20.0)
    assert k["max_drac"] == pytest.approx(100.0 / 22.0)


def test_case_kpis_separates_cases_and_flags_collisions():
    rows = _trace_case("a")
    # case b: ego reaches the standing lead at the third step, never brakes
    for k, gap in enumerate([2.0, 1.0, -0.5]):
        t = 0.1 * k
        rows.append(_rows("b", t, 0, True, 0.0, 10.0))
        rows.append(_rows("b", t, 7, False, gap + (EGO_LEN + LEAD_LEN) / 2, 0.0))
    result = case_kpis(_table(rows))
    assert list(result) == ["a", "b"]
    b = result["b"]
    assert b["collision"] is True
    assert b["collision_time"] == pytest.approx(0.2)
    assert b["impact_speed"] == pytest.approx(10.0)
    assert b["min_ttc"] == 0.0
    assert b["min_distance"] == pytest.approx(-0.5)
    assert b["first_brake_time"] is None
    assert b["max_deceleration"] == 0.0
    assert result["a"]["collision"] is False


def test_case_kpis_without_any_lead():
    rows = [_rows("solo", 0.1 * k, 0, True, 2.0 * k, 20.0) for k in range(5)]
    k = case_kpis(_table(rows))["solo"]
    assert k["min_ttc"] == math.inf
    assert k["min_distance"] == math.inf
    assert k["tet"] == 0.0 and k["tit"] == 0.0
    assert k["collision"] is False


def test_case_kpis_picks_the_closest_of_two_leads():
    rows = []
    for k in range(3):
        t = 0.1 * k
        rows.append(_rows("c", t, 0, True, 0.0, 20.0))
        rows.append(_rows("c", t, 1, False, 60.0, 20.0))  # far, same speed
        rows.append(_rows("c", t, 2, False, 30.0 + 4.5, 10.0))  # gap 30 m, closing 10 m/s
    k = case_kpis(_table(rows))["c"]
    assert k["min_distance"] == pytest.approx(30.0)
    assert k["min_ttc"] == pytest.approx(3.0)


def test_case_kpis_does_not_depend_on_row_order():
    rows = _trace_case("a") + _trace_case("b")
    ordered = case_kpis(_table(rows))
    shuffled = [rows[i] for i in np.random.default_rng(5).permutation(len(rows))]
    result = case_kpis(_table(shuffled))
    assert set(result) == {"a", "b"}
    for case in ("a", "b"):
        assert result[case] == pytest.approx(ordered[case])


def test_case_kpis_accepts_a_dict_of_numpy_arrays():
    rows = _trace_case()
    data = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    assert case_kpis(data)["trace"]["min_ttc"] == pytest.approx(1.1)


def test_case_kpis_counts_a_vehicle_cutting_in_before_it_changes_lane():
    """Lane 2 by its centre, but its body already overlaps the ego's: it is the lead."""
    rows = []
    for k in range(3):
        t = 0.1 * k
        rows.append(_rows("cut", t, 0, True, 0.0, 20.0))
        # centre 1.7 m to the left: bodies of 1.8 m overlap by 0.1 m
        rows.append(_rows("cut", t, 1, False, 10.0 + 4.5, 10.0, lane=2, y=1.7))
        # 1.9 m to the left: no overlap, ignored although closer
        rows.append(_rows("cut", t, 2, False, 5.0 + 4.5, 10.0, lane=2, y=1.9))
    k = case_kpis(_table(rows))["cut"]
    assert k["min_distance"] == pytest.approx(10.0)
    assert k["min_ttc"] == pytest.approx(1.0)


def test_case_kpis_flags_a_side_contact():
    """A vehicle cutting in hits the ego's flank: its centre is behind the ego's front but the
    bodies overlap, which counts as a collision although it is never the lead."""
    rows = []
    for k, y in enumerate([3.0, 1.5]):
        t = 0.1 * k
        rows.append(_rows("side", t, 0, True, 0.0, 20.0))
        other = _rows("side", t, 1, False, -1.0, 15.0, lane=2, y=y)
        other["vy"] = -15.0
        rows.append(other)
    k = case_kpis(_table(rows))["side"]
    assert k["collision"] is True
    assert k["collision_time"] == pytest.approx(0.1)
    assert k["impact_speed"] == pytest.approx(5.0)
    assert k["min_distance"] == math.inf


def test_case_kpis_follows_the_ego_heading():
    """A road along the diagonal: the gap is measured along the ego's direction of travel."""
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    rows = []
    for k in range(3):
        t = 0.1 * k
        ego = _rows("diag", t, 0, True, 0.0, 20.0 * c)
        ego["vy"] = 20.0 * s
        lead_dist = 25.0 + (EGO_LEN + LEAD_LEN) / 2
        lead = _rows("diag", t, 1, False, lead_dist * c, 10.0 * c, y=lead_dist * s)
        lead["vy"] = 10.0 * s
        rows += [ego, lead]
    k = case_kpis(_table(rows))["diag"]
    assert k["min_distance"] == pytest.approx(25.0)
    assert k["min_ttc"] == pytest.approx(2.5)


def test_case_kpis_refuses_two_egos_at_one_step():
    rows = _trace_case()
    rows[2]["is_ego"] = True
    with pytest.raises(KpiError, match="two ego rows"):
        case_kpis(_table(rows))


def test_case_kpis_reports_a_missing_column():
    table = _table(_trace_case()).drop_columns(["lane_id"])
    with pytest.raises(KpiError, match="lane_id"):
        case_kpis(table)


def _naive_case_kpis(table, tau=1.5):
    """Row-by-row reference implementation of the documented definitions."""
    d = table.to_pylist()
    cases: dict = {}
    for r in d:
        cases.setdefault(r["case_id"], {}).setdefault(r["t"], []).append(r)
    out = {}
    for case, steps in cases.items():
        times = sorted(steps)
        heading = None
        samples = []
        for t in times:
            ego = next(r for r in steps[t] if r["is_ego"])
            speed = math.hypot(ego["vx"], ego["vy"])
            if speed > 0.1:
                heading = (ego["vx"] / speed, ego["vy"] / speed)
            samples.append((t, ego, heading))
        # stationary start: take the first later heading, else +x
        first_heading = next((h for _, _, h in samples if h is not None), (1.0, 0.0))
        res = {"ttc": [], "gap": [], "a": [], "t": []}
        touched = False
        for t, ego, h in samples:
            c, s = h if h is not None else first_heading
            best = None
            for r in steps[t]:
                if r["is_ego"]:
                    continue
                along = (r["x"] - ego["x"]) * c + (r["y"] - ego["y"]) * s
                across = abs((r["y"] - ego["y"]) * c - (r["x"] - ego["x"]) * s)
                beside = across < (r["width"] + ego["width"]) / 2
                if beside and abs(along) <= (r["length"] + ego["length"]) / 2:
                    touched = True
                in_path = r["lane_id"] == ego["lane_id"] or beside
                if in_path and along > 0 and (best is None or along < best[0]):
                    best = (along, r)
            a = ego["ax"] * c + ego["ay"] * s
            res["a"].append(a)
            res["t"].append(t)
            if best is None:
                res["gap"].append(math.inf)
                res["ttc"].append(math.inf)
                continue
            along, lead = best
            gap = along - (ego["length"] + lead["length"]) / 2
            closing = (ego["vx"] - lead["vx"]) * c + (ego["vy"] - lead["vy"]) * s
            res["gap"].append(gap)
            if gap <= 0:
                res["ttc"].append(0.0)
            else:
                res["ttc"].append(gap / closing if closing > 0 else math.inf)
        dts = [b - a for a, b in zip(res["t"], res["t"][1:], strict=False)]
        dts.append(dts[-1] if dts else 0.0)
        jerks = [abs(b - a) / dt for a, b, dt in zip(res["a"], res["a"][1:], dts, strict=False)]
        out[case] = {
            "min_ttc": min(res["ttc"]),
            "min_distance": min(res["gap"]),
            "max_deceleration": max(0.0, max(-a for a in res["a"])),
            "max_jerk": max(jerks) if jerks else None,
            "tet": sum(dt for x, dt in zip(res["ttc"], dts, strict=True) if x <= tau),
            "tit": sum((tau - x) * dt for x, dt in zip(res["ttc"], dts, strict=True) if x <= tau),
            "first_brake_time": next(
                (t for t, a in zip(res["t"], res["a"], strict=True) if a < -1), None
            ),
            "collision": touched or any(g <= 0 for g in res["gap"]),
        }
    return out


def test_case_kpis_matches_a_row_by_row_computation_on_generated_drives():
    from validation.lake import generate_drive, random_case_params

    rng = np.random.default_rng(11)
    tables = [
        generate_drive(f"case-{i}", random_case_params(rng), seed=i, drive_id="d")
        for i in range(12)
    ]
    table = pa.concat_tables(tables)
    fast = case_kpis(table)
    slow = _naive_case_kpis(table)
    assert set(fast) == set(slow)
    for case, expected in slow.items():
        got = fast[case]
        for key, value in expected.items():
            if value is None or isinstance(value, bool) or math.isinf(value):
                assert got[key] == value, (case, key)
            else:
                assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (case, key)


def test_a_case_record_is_json_ready_with_its_exposure():
    values = {
        "min_ttc": np.float64(math.inf),
        "min_distance": np.float64(12.5),
        "max_drac": math.nan,
        "max_deceleration": 4.0,
        "collision": np.bool_(False),
        "impact_speed": None,
        "start": 0.0,
        "end": 36.0,
    }
    record = kpis.case_record(values, 0.25)
    assert record["min_ttc"] == "inf" and record["max_drac"] is None
    assert type(record["min_distance"]) is float and record["collision"] is False
    # braking at 4 m/s² while the TTC never fell below 3 s: one unintended braking event
    assert (record["distance_km"], record["duration_h"], record["events"]) == (0.25, 0.01, 1)
    assert record["impact_speed_kmh"] == 0.0
    threatened = kpis.exposure_kpis({**values, "min_ttc": 2.0, "impact_speed": 5.0}, 0.0)
    assert (threatened["events"], threatened["impact_speed_kmh"]) == (0, 18.0)


def test_the_ego_distance_is_per_case_from_its_first_to_its_last_position():
    table = pa.table(
        {
            "case_id": ["a", "a", "a", "b", "b"],
            "is_ego": [True, False, True, True, True],
            "x": [10.0, 900.0, 510.0, 0.0, 2000.0],
        }
    )
    assert kpis.ego_distance_km(table) == {"a": 0.5, "b": 2.0}
