"""Scenario-level criticality KPIs for longitudinal safety functions (AEB, ACC, ALKS).

Pure numpy; no Django. Formulas follow ``../shared/domain/REFERENCE.md`` section 8.

Units everywhere: distances and gaps in m, times in s, speeds in m/s, accelerations in m/s²,
jerk in m/s³. A *gap* is the bumper-to-bumper distance between a follower and its leader.

Every elementary function accepts scalars or numpy arrays (broadcasting) and returns a float for
scalar input and an ndarray otherwise. "Never" is expressed as ``inf`` (a TTC that never occurs,
no lead vehicle) and "undefined" as ``nan`` (a PET with simultaneous occupation).

Differencing convention (jerk, derived quantities): the *forward difference*
``j[i] = (a[i+1] - a[i]) / dt`` over consecutive samples. A trace of n samples therefore yields
n - 1 jerk values, and the jerk at sample i describes the interval [t_i, t_i+1).

Integration convention (TET, TIT): each sample stands for one time step ``dt`` (rectangle rule,
sample value held until the next sample). In :func:`case_kpis` the step of a sample is the forward
time difference to the next sample of the same case; the last sample reuses the previous step.

:func:`case_kpis` aggregates per test case over an object-track table (see ``validation.lake``)
with numpy sorting and ``reduceat`` only, without a Python loop over rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "KpiError",
    "case_kpis",
    "case_record",
    "drac",
    "dst",
    "ego_distance_km",
    "exposure_kpis",
    "jerk",
    "json_values",
    "lane_exceedance",
    "max_abs_jerk",
    "max_deceleration",
    "min_ttc",
    "pet",
    "required_deceleration",
    "rss_min_distance",
    "tet",
    "thw",
    "time_to_line_crossing",
    "tit",
    "ttc",
]

#: Columns :func:`case_kpis` reads from a track table.
KPI_COLUMNS = (
    "case_id",
    "t",
    "is_ego",
    "x",
    "y",
    "vx",
    "vy",
    "ax",
    "ay",
    "length",
    "width",
    "lane_id",
)

#: Below this speed (m/s) the ego heading is not taken from its velocity vector.
HEADING_MIN_SPEED = 0.1


class KpiError(ValueError):
    """Input that KPIs cannot be computed from (missing columns, two egos at one time step)."""


def _out(value: np.ndarray) -> float | np.ndarray:
    """Return a Python float for 0-d results, the array otherwise."""
    if np.ndim(value) == 0:
        return float(value)
    return value


def _f(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Elementary KPIs
# --------------------------------------------------------------------------------------------


def ttc(gap: Any, v_follow: Any, v_lead: Any) -> float | np.ndarray:
    """Time to collision (s) for 1-D constant speeds: ``gap / (v_f - v_l)`` when closing.

    ``gap`` in m, speeds in m/s. ``inf`` when the follower is not faster than the leader. A gap of
    zero or less (already touching) gives 0.
    """
    d, vf, vl = np.broadcast_arrays(_f(gap), _f(v_follow), _f(v_lead))
    closing = vf - vl
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(closing > 0.0, d / closing, np.inf)
    out = np.where(d <= 0.0, 0.0, out)
    return _out(out)


def min_ttc(ttc_trace: Any) -> float:
    """Minimum of a TTC trace (s); ``inf`` for an empty trace or one that never closes."""
    trace = _f(ttc_trace).ravel()
    if trace.size == 0:
        return math.inf
    return float(np.min(trace))


def _ttc_window(ttc_trace: Any, tau: float) -> tuple[np.ndarray, np.ndarray]:
    trace = _f(ttc_trace).ravel()
    inside = (trace >= 0.0) & (trace <= tau)
    return trace, inside


def tet(ttc_trace: Any, tau: float, dt: float) -> float:
    """Time exposed TTC (s): time spent with 0 <= TTC <= ``tau``; each sample counts ``dt`` s."""
    _, inside = _ttc_window(ttc_trace, tau)
    return float(np.count_nonzero(inside) * dt)


def tit(ttc_trace: Any, tau: float, dt: float) -> float:
    """Time integrated TTC (s²): sum of ``(tau - TTC) * dt`` over samples with 0 <= TTC <= tau."""
    trace, inside = _ttc_window(ttc_trace, tau)
    return float(np.sum((tau - trace[inside]) * dt))


def thw(gap: Any, v_follow: Any) -> float | np.ndarray:
    """Time headway (s): ``gap / v_f``; ``inf`` when the follower stands still (v_f <= 0)."""
    d, vf = np.broadcast_arrays(_f(gap), _f(v_follow))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(vf > 0.0, d / vf, np.inf)
    return _out(out)


def drac(gap: Any, v_follow: Any, v_lead: Any) -> float | np.ndarray:
    """Deceleration rate to avoid a crash (m/s², positive): ``(v_f - v_l)² / (2 gap)``.

    0 when not closing; ``inf`` when closing with a gap of zero or less.
    """
    d, vf, vl = np.broadcast_arrays(_f(gap), _f(v_follow), _f(v_lead))
    closing = vf - vl
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d > 0.0, closing**2 / (2.0 * d), np.inf)
    out = np.where(closing > 0.0, out, 0.0)
    return _out(out)


def required_deceleration(gap: Any, v_follow: Any, v_lead: Any, a_lead: Any) -> float | np.ndarray:
    """Acceleration (m/s², negative = braking) the follower needs when the lead brakes at ``a_l``.

    ``a_req = a_l - (v_f - v_l)² / (2 gap)`` while closing (relative-motion form, valid while the
    lead is still moving); ``a_l`` itself when not closing.
    """
    d, vf, vl, al = np.broadcast_arrays(_f(gap), _f(v_follow), _f(v_lead), _f(a_lead))
    return _out(al - np.asarray(drac(d, vf, vl)))


def dst(gap: Any, v_follow: Any, v_lead: Any, t_safety: float) -> float | np.ndarray:
    """Deceleration to safety time (m/s²): ``(v_f - v_l)² / (2 (gap - v_l t_s))``.

    0 when not closing; ``inf`` when the safety margin ``gap - v_l t_s`` is already used up.
    """
    d, vf, vl = np.broadcast_arrays(_f(gap), _f(v_follow), _f(v_lead))
    margin = d - vl * float(t_safety)
    closing = vf - vl
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(margin > 0.0, closing**2 / (2.0 * margin), np.inf)
    out = np.where(closing > 0.0, out, 0.0)
    return _out(out)


def max_deceleration(accel: Any) -> float:
    """Largest deceleration (m/s², positive) of a longitudinal acceleration trace: ``max(-a)``.

    0 for an empty trace or one that never decelerates.
    """
    a = _f(accel).ravel()
    if a.size == 0:
        return 0.0
    return float(max(0.0, np.max(-a)))


def jerk(accel: Any, dt: float) -> np.ndarray:
    """Jerk trace (m/s³), forward difference ``(a[i+1] - a[i]) / dt``: n samples give n-1."""
    a = _f(accel).ravel()
    return np.diff(a) / float(dt)


def max_abs_jerk(accel: Any, dt: float) -> float:
    """Largest |jerk| (m/s³) of an acceleration trace sampled every ``dt`` s (forward difference).

    0 for traces of fewer than two samples.
    """
    j = jerk(accel, dt)
    if j.size == 0:
        return 0.0
    return float(np.max(np.abs(j)))


def lane_exceedance(e_lat: Any, w_vehicle: Any, w_lane: Any) -> float | np.ndarray:
    """How far (m) the vehicle body sticks out of its lane: ``max(0, |e| + w_veh/2 - w_lane/2)``.

    ``e_lat`` is the lateral offset of the vehicle centre from the lane centre.
    """
    e, wv, wl = np.broadcast_arrays(_f(e_lat), _f(w_vehicle), _f(w_lane))
    return _out(np.maximum(0.0, np.abs(e) + wv / 2.0 - wl / 2.0))


def time_to_line_crossing(
    e_lat: Any, v_lat: Any, w_vehicle: Any = 1.8, w_lane: Any = 3.5
) -> float | np.ndarray:
    """Time (s) until the vehicle body touches the lane line it is drifting towards.

    ``e_lat`` and ``v_lat`` are signed the same way (for example positive to the left). Moving
    left the remaining margin is ``w_lane/2 - w_veh/2 - e_lat``, moving right it is
    ``w_lane/2 - w_veh/2 + e_lat``; TLC = margin / |v_lat|. ``inf`` without lateral motion, 0 when
    the body already touches the line. For motion away from the centre this is REFERENCE.md's
    ``(w_lane/2 - |e_lat| - w_veh/2) / v_lat``.
    """
    e, v, wv, wl = np.broadcast_arrays(_f(e_lat), _f(v_lat), _f(w_vehicle), _f(w_lane))
    half_free = wl / 2.0 - wv / 2.0
    margin = np.where(v > 0.0, half_free - e, half_free + e)
    speed = np.abs(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(speed > 0.0, np.maximum(margin, 0.0) / speed, np.inf)
    return _out(out)


def rss_min_distance(
    v_rear: Any,
    v_front: Any,
    rho: float,
    a_accel_max: float,
    b_min: float,
    b_max: float,
) -> float | np.ndarray:
    """RSS minimum safe longitudinal distance (m) for same-direction traffic.

    ``d_min = [v_r ρ + ½ a_acc ρ² + (v_r + ρ a_acc)² / (2 b_min) - v_f² / (2 b_max)]₊`` with the
    rear vehicle's response time ρ (s), its worst-case acceleration during ρ, its minimum braking
    ``b_min`` and the front vehicle's maximum braking ``b_max`` (all m/s², positive).
    """
    vr, vf = np.broadcast_arrays(_f(v_rear), _f(v_front))
    rho = float(rho)
    d = (
        vr * rho
        + 0.5 * a_accel_max * rho**2
        + (vr + rho * a_accel_max) ** 2 / (2.0 * b_min)
        - vf**2 / (2.0 * b_max)
    )
    return _out(np.maximum(d, 0.0))


def pet(t_exit_first: Any, t_entry_second: Any) -> float | np.ndarray:
    """Post-encroachment time (s): entry of the second actor minus exit of the first.

    ``nan`` (undefined) when the second actor enters before the first has left, that is when
    both occupy the conflict area at once.
    """
    t1, t2 = np.broadcast_arrays(_f(t_exit_first), _f(t_entry_second))
    out = t2 - t1
    return _out(np.where(out >= 0.0, out, np.nan))


# --------------------------------------------------------------------------------------------
# Per test case aggregation over a track table
# --------------------------------------------------------------------------------------------


def _column(table: Any, name: str) -> Any:
    if isinstance(table, Mapping):
        if name not in table:
            raise KpiError(f"track data lacks column {name!r}")
        return table[name]
    if name not in table.column_names:
        raise KpiError(f"track table lacks column {name!r}")
    return table.column(name)


def _numeric(table: Any, name: str, dtype: Any) -> np.ndarray:
    col = _column(table, name)
    if isinstance(col, np.ndarray):
        arr = col
    elif hasattr(col, "to_numpy"):
        if getattr(col, "null_count", 0):
            raise KpiError(f"column {name!r} contains nulls")
        arr = col.to_numpy()
    else:
        arr = np.asarray(col)
    if dtype is None:
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(arr, dtype=dtype)


def _take(table: Any, name: str, idx: np.ndarray) -> np.ndarray:
    """Float values of column ``name`` at row positions ``idx``."""
    col = _column(table, name)
    if isinstance(col, np.ndarray):
        return np.asarray(col[idx], dtype=np.float64)
    if hasattr(col, "take") and hasattr(col, "null_count"):
        taken = col.take(idx)
        if hasattr(taken, "combine_chunks"):
            taken = taken.combine_chunks()
        return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=np.float64)
    return np.asarray(col, dtype=np.float64)[idx]


def _case_codes(table: Any) -> tuple[np.ndarray, list[Any]]:
    """Integer code per row and the case id of each code (dictionary encoding)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = _column(table, "case_id")
    if isinstance(col, pa.ChunkedArray | pa.Array):
        chunked = col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])
    else:
        chunked = pa.chunked_array([pa.array(np.asarray(col))])
    if chunked.null_count:
        raise KpiError("column 'case_id' contains nulls")
    if not pa.types.is_dictionary(chunked.type):
        chunked = pc.dictionary_encode(chunked)
    encoded = chunked.unify_dictionaries()
    if encoded.num_chunks == 0:
        return np.zeros(0, dtype=np.int32), []
    indices = [chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]
    codes = indices[0] if len(indices) == 1 else np.concatenate(indices)
    return np.ascontiguousarray(codes), encoded.chunk(0).dictionary.to_pylist()


def _fill_heading(
    vx: np.ndarray, vy: np.ndarray, case_start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unit heading of the ego from its velocity; carried over while (nearly) standing.

    A sample slower than :data:`HEADING_MIN_SPEED` takes the heading of the last faster sample of
    the same case, or of the next one when there was none before; a case that never moves
    heads along +x.
    """
    n = vx.size
    speed = np.hypot(vx, vy)
    moving = speed > HEADING_MIN_SPEED
    if bool(moving.all()):
        return vx / speed, vy / speed
    idx = np.arange(n)
    case_of = np.cumsum(case_start) - 1
    prev = np.maximum.accumulate(np.where(moving, idx, -1))
    prev_ok = (prev >= 0) & (case_of[np.maximum(prev, 0)] == case_of)
    nxt = np.minimum.accumulate(np.where(moving, idx, n)[::-1])[::-1]
    nxt_ok = (nxt < n) & (case_of[np.minimum(nxt, n - 1)] == case_of)
    src = np.where(moving, idx, np.where(prev_ok, prev, np.where(nxt_ok, nxt, -1)))
    have = src >= 0
    src_safe = np.maximum(src, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(have, vx[src_safe] / speed[src_safe], 1.0)
        s = np.where(have, vy[src_safe] / speed[src_safe], 0.0)
    return c, s


def case_kpis(
    table: Any,
    tau: float = 1.5,
    brake_threshold: float = -1.0,
) -> dict[str, dict[str, Any]]:
    """KPIs of the ego against its lead, per test case, from an object-track table.

    ``table`` is a ``pyarrow.Table`` or a dict of numpy arrays with the columns of
    ``validation.lake.TRACK_SCHEMA`` (only :data:`KPI_COLUMNS` are read). Each case needs one ego
    row (``is_ego``) per time step; rows of the same case and the same ``t`` (exact equality)
    form one time step. Cases without an ego row are left out. Input grouped by case and
    ordered by time (the lake layout) is read as is; other input is sorted first.

    Geometry: the ego heading is the direction of its velocity (carried over while standing). An
    object is a lead candidate when its centre lies ahead along that heading and it is in the
    ego's path: it shares the ego's ``lane_id``, or its body overlaps the ego's laterally
    (centre distance across the heading below half the sum of the widths, which catches a
    vehicle cutting in before its centre crosses the lane line). The lead is the closest
    candidate. The gap is the longitudinal centre distance minus half of both lengths. Speeds and
    accelerations are projected on the heading.

    Returned per case id (in order of first appearance), with ``inf`` meaning "never":

    - ``min_ttc`` (s), ``min_distance`` (m, smallest gap to a lead), ``min_thw`` (s),
      ``max_drac`` (m/s²)
    - ``max_deceleration`` (m/s², positive), ``max_jerk`` (m/s³, largest |jerk| by forward
      difference, ``None`` with fewer than two samples)
    - ``tet`` (s) and ``tit`` (s²) at ``tau``
    - ``first_brake_time`` (s): first ``t`` with ego acceleration below ``brake_threshold``
      (default -1 m/s²), ``None`` if never
    - ``collision``: at some step the lead's gap is <= 0, or any object's body overlaps the
      ego's (boxes aligned with the ego heading overlap across and along it, which also catches
      a vehicle cutting into the ego's side); ``collision_time`` (s or ``None``);
      ``impact_speed`` (m/s, the largest closing speed along the heading among the objects in
      contact at the first contact, ``None`` without collision)
    - ``steps`` (ego samples), ``start`` and ``end`` (s)
    """
    codes, names = _case_codes(table)
    t = _numeric(table, "t", np.float64)
    n = t.size
    if n == 0:
        return {}
    is_ego = _numeric(table, "is_ego", np.bool_)
    lane = _numeric(table, "lane_id", None)
    if not np.issubdtype(lane.dtype, np.integer):
        raise KpiError("column 'lane_id' must hold integers")
    x = _numeric(table, "x", np.float64)
    y = _numeric(table, "y", np.float64)
    width = _numeric(table, "width", np.float64)
    # vx, vy, ax, ay and length are only needed at a few rows: taken from the table on demand
    for name in ("vx", "vy", "ax", "ay", "length"):
        col = _column(table, name)
        if getattr(col, "null_count", 0):
            raise KpiError(f"column {name!r} contains nulls")
        if len(col) != n:
            raise KpiError("track columns differ in length")
    if any(a.size != n for a in (codes, is_ego, lane, x, y, width)):
        raise KpiError("track columns differ in length")

    # Rows must come grouped by case and in time order within a case (the lake layout);
    # other input is sorted first.
    order: np.ndarray | None = None
    case_change = codes[1:] != codes[:-1]
    n_cases = int(np.count_nonzero(np.bincount(codes)))
    grouped = int(np.count_nonzero(case_change)) + 1 == n_cases
    if not (grouped and bool(np.all(case_change | (t[1:] >= t[:-1])))):
        order = np.argsort(codes, kind="stable")
        c_sorted, t_sorted = codes[order], t[order]
        same = c_sorted[1:] == c_sorted[:-1]
        if not bool(np.all(~same | (t_sorted[1:] >= t_sorted[:-1]))):
            order = np.lexsort((t, codes))
        codes, t, is_ego, lane, x, y, width = (
            a[order] for a in (codes, t, is_ego, lane, x, y, width)
        )
        case_change = codes[1:] != codes[:-1]

    def take(name: str, idx: np.ndarray) -> np.ndarray:
        """Values of a column at positions ``idx`` of the (sorted) rows."""
        return _take(table, name, idx if order is None else order[idx])

    # Time steps: runs of equal (case, t).
    new_step = np.empty(n, dtype=np.bool_)
    new_step[0] = True
    np.not_equal(t[1:], t[:-1], out=new_step[1:])
    new_step[1:] |= case_change
    step_id = np.cumsum(new_step, dtype=np.int64) - 1
    n_steps = int(step_id[-1]) + 1
    del new_step, case_change

    ego = np.flatnonzero(is_ego)
    ne = ego.size
    ego_step = step_id[ego]
    if ne > 1 and bool(np.any(ego_step[1:] == ego_step[:-1])):
        bad = ego[np.flatnonzero(ego_step[1:] == ego_step[:-1])[0]]
        raise KpiError(f"case {names[codes[bad]]!r} has two ego rows at t={t[bad]}")
    if ne == 0:
        return {}

    # Ego samples, in (case, t) order.
    e_case = codes[ego]
    e_t = t[ego]
    e_start = np.ones(ne, dtype=np.bool_)
    e_start[1:] = e_case[1:] != e_case[:-1]
    e_vx, e_vy = take("vx", ego), take("vy", ego)
    cos_h, sin_h = _fill_heading(e_vx, e_vy, e_start)
    e_v = e_vx * cos_h + e_vy * sin_h
    e_a = take("ax", ego) * cos_h + take("ay", ego) * sin_h
    e_len = take("length", ego)
    ego_pos_of_step = np.full(n_steps, -1, dtype=np.int64)
    ego_pos_of_step[ego_step] = np.arange(ne)

    def per_step(values: np.ndarray, fill: Any) -> np.ndarray:
        """Ego values by time step (``fill`` where a step has no ego)."""
        if ne == n_steps:
            return values
        out = np.full(n_steps, fill, dtype=values.dtype)
        out[ego_step] = values
        return out

    # Geometry of every row relative to the ego of its step, in the ego's heading frame. Four
    # scratch buffers are reused (fewer large allocations: they dominate on a cold process).
    a = np.take(per_step(x[ego], np.nan), step_id)
    np.subtract(x, a, out=a)  # dx
    b = np.take(per_step(y[ego], np.nan), step_id)
    np.subtract(y, b, out=b)  # dy
    c = np.take(per_step(cos_h, np.nan), step_id)
    d = np.take(per_step(sin_h, np.nan), step_id)
    s = a * c  # along the heading (dx cos + dy sin)
    np.multiply(c, b, out=c)
    np.multiply(a, d, out=a)
    np.subtract(c, a, out=c)
    np.multiply(b, d, out=b)
    s += b
    np.abs(c, out=c)  # across the heading
    del b, d
    np.take(per_step(width[ego], np.nan), step_id, out=a)
    a += width
    a *= 0.5
    not_ego = ~is_ego
    beside = c < a  # bodies overlap across the heading
    beside &= not_ego
    del a, c
    # Lead candidates: ahead of the ego and in its path, that is in the ego's lane or with a
    # body overlapping the ego's across the heading (a cut-in in progress).
    no_lane = np.iinfo(lane.dtype).min
    in_path = lane == np.take(per_step(lane[ego], no_lane), step_id)
    in_path |= beside
    in_path &= s > 0.0
    in_path &= not_ego
    del not_ego

    # Contact: bodies overlapping both across and along the heading (any object, ahead or not).
    ov = np.flatnonzero(beside)
    del beside
    ov_ep = ego_pos_of_step[step_id[ov]]
    touch = np.abs(s[ov]) <= 0.5 * (take("length", ov) + e_len[ov_ep])
    ov, ov_ep = ov[touch], ov_ep[touch]
    contact = np.zeros(ne, dtype=np.bool_)
    contact_speed = np.full(ne, -np.inf)
    if ov.size:
        v_other = take("vx", ov) * cos_h[ov_ep] + take("vy", ov) * sin_h[ov_ep]
        contact[ov_ep] = True
        np.maximum.at(contact_speed, ov_ep, e_v[ov_ep] - v_other)

    rows = np.flatnonzero(in_path)
    del in_path
    s = s[rows]
    r_step = step_id[rows]
    ep = ego_pos_of_step[r_step]

    gap = np.full(ne, np.inf)
    closing = np.zeros(ne)
    if rows.size:
        run_start = np.r_[True, r_step[1:] != r_step[:-1]]
        starts = np.flatnonzero(run_start)
        if starts.size == rows.size:  # one candidate per step
            lead_idx = starts
        else:
            s_min = np.minimum.reduceat(s, starts)
            run = np.cumsum(run_start) - 1
            # the first row reaching the minimum in each step is the lead
            idx_min = np.flatnonzero(s == s_min[run])
            first = np.r_[True, run[idx_min][1:] != run[idx_min][:-1]]
            lead_idx = idx_min[first]
        lead_row = rows[lead_idx]
        lead_ep = ep[lead_idx]
        gap[lead_ep] = s[lead_idx] - 0.5 * (take("length", lead_row) + e_len[lead_ep])
        v_lead = take("vx", lead_row) * cos_h[lead_ep] + take("vy", lead_row) * sin_h[lead_ep]
        closing[lead_ep] = e_v[lead_ep] - v_lead

    has_lead = np.isfinite(gap)
    with np.errstate(divide="ignore", invalid="ignore"):
        ttc_e = np.where(closing > 0.0, gap / closing, np.inf)
        ttc_e = np.where(has_lead & (gap <= 0.0), 0.0, ttc_e)
        thw_e = np.where(has_lead & (e_v > 0.0), gap / e_v, np.inf)
        thw_e = np.where(has_lead & (gap <= 0.0), 0.0, thw_e)
        drac_e = np.where(closing > 0.0, closing**2 / (2.0 * gap), 0.0)
        drac_e = np.where((closing > 0.0) & (gap <= 0.0), np.inf, drac_e)

    # Per-sample time step (forward difference within the case; last sample reuses the previous).
    dt = np.zeros(ne)
    if ne > 1:
        fwd = np.diff(e_t)
        cont = ~e_start[1:]
        dt[:-1] = np.where(cont, fwd, 0.0)
        last = np.r_[~cont, True]  # last sample of each case
        prev_dt = np.r_[0.0, np.where(cont, fwd, 0.0)]
        dt = np.where(last, prev_dt, dt)
        jerk_e = np.zeros(ne)
        with np.errstate(divide="ignore", invalid="ignore"):
            jerk_e[:-1] = np.where(cont & (fwd > 0.0), np.abs(np.diff(e_a)) / fwd, 0.0)
    else:
        jerk_e = np.zeros(ne)

    exposed = ttc_e <= tau
    starts_c = np.flatnonzero(e_start)
    counts = np.diff(np.r_[starts_c, ne])
    red_min = np.minimum.reduceat
    red_max = np.maximum.reduceat
    red_sum = np.add.reduceat
    k_min_ttc = red_min(ttc_e, starts_c)
    k_min_gap = red_min(gap, starts_c)
    k_min_thw = red_min(thw_e, starts_c)
    k_max_drac = red_max(drac_e, starts_c)
    k_max_dec = np.maximum(red_max(-e_a, starts_c), 0.0)
    k_max_jerk = red_max(jerk_e, starts_c)
    k_tet = red_sum(np.where(exposed, dt, 0.0), starts_c)
    k_tit = red_sum(np.where(exposed, (tau - ttc_e) * dt, 0.0), starts_c)
    k_brake = red_min(np.where(e_a < brake_threshold, e_t, np.inf), starts_c)
    lead_contact = has_lead & (gap <= 0.0)
    contact_speed = np.where(lead_contact, np.maximum(contact_speed, closing), contact_speed)
    contact |= lead_contact
    k_coll_t = red_min(np.where(contact, e_t, np.inf), starts_c)
    # closing speed at the first contact: the first contact sample of each case
    contact_idx = np.flatnonzero(contact)
    impact = np.full(starts_c.size, np.nan)
    if contact_idx.size:
        case_of_sample = np.cumsum(e_start) - 1
        cc = case_of_sample[contact_idx]
        firsts = np.r_[True, cc[1:] != cc[:-1]]
        impact[cc[firsts]] = np.maximum(contact_speed[contact_idx[firsts]], 0.0)
    k_start = e_t[starts_c]
    k_end = e_t[starts_c + counts - 1]
    k_names = [names[c] for c in e_case[starts_c].tolist()]

    def opt(values: np.ndarray) -> list[float | None]:
        return [v if math.isfinite(v) else None for v in values.tolist()]

    columns = {
        "min_ttc": k_min_ttc.tolist(),
        "min_distance": k_min_gap.tolist(),
        "min_thw": k_min_thw.tolist(),
        "max_drac": k_max_drac.tolist(),
        "max_deceleration": k_max_dec.tolist(),
        "max_jerk": [
            j if c > 1 else None for j, c in zip(k_max_jerk.tolist(), counts.tolist(), strict=True)
        ],
        "tet": k_tet.tolist(),
        "tit": k_tit.tolist(),
        "first_brake_time": opt(k_brake),
        "collision": np.isfinite(k_coll_t).tolist(),
        "collision_time": opt(k_coll_t),
        "impact_speed": [None if math.isnan(v) else v for v in impact.tolist()],
        "steps": counts.tolist(),
        "start": k_start.tolist(),
        "end": k_end.tolist(),
    }
    keys = list(columns)
    rows_out = zip(*(columns[k] for k in keys), strict=True)
    return {
        name: dict(zip(keys, values, strict=True))
        for name, values in zip(k_names, rows_out, strict=True)
    }


# --------------------------------------------------------------------------------------------
# Exposure and the stored form of a case's KPIs (every executor returns this)
# --------------------------------------------------------------------------------------------

# An unintended emergency braking: the ego braked harder than 3 m/s² although the time to
# collision never fell below 3 s (SG-01 of the demo: no emergency braking without a threat).
UNINTENDED_DECEL = 3.0
UNINTENDED_MIN_TTC = 3.0


def exposure_kpis(values: Mapping[str, Any], distance_km: float) -> dict[str, Any]:
    """Exposure and event KPIs that rate criteria (per hour or km) and AC-03 need."""
    duration_s = float((values.get("end") or 0.0) - (values.get("start") or 0.0))
    min_ttc = values.get("min_ttc")
    min_ttc = float("inf") if min_ttc in (None, "inf") else float(min_ttc)
    hard = float(values.get("max_deceleration") or 0.0) > UNINTENDED_DECEL
    impact = values.get("impact_speed")
    return {
        "distance_km": distance_km,
        "duration_h": duration_s / 3600.0,
        "events": int(hard and min_ttc > UNINTENDED_MIN_TTC and not values.get("collision")),
        "impact_speed_kmh": float(impact) * 3.6 if impact is not None else 0.0,
    }


def ego_distance_km(table: Any) -> dict[str, float]:
    """Distance the ego travelled per case, from its first to its last x position.

    ``table`` is a ``pyarrow.Table`` in the track schema.
    """
    import pyarrow.compute as pc

    ego = table.filter(pc.equal(table["is_ego"], True))
    grouped = ego.group_by("case_id").aggregate([("x", "min"), ("x", "max")])
    return {
        case_id: (hi - lo) / 1000.0
        for case_id, lo, hi in zip(
            grouped["case_id"].to_pylist(),
            grouped["x_min"].to_pylist(),
            grouped["x_max"].to_pylist(),
            strict=True,
        )
    }


def json_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready KPI values (numpy scalars to floats; NaN to None, infinities to "inf")."""
    out = {}
    for key, value in values.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            value = None if value != value else ("inf" if value > 0 else "-inf")
        out[key] = value
    return out


def case_record(values: Mapping[str, Any], distance_km: float) -> dict[str, Any]:
    """One case's KPIs as a run stores them: :func:`case_kpis`' values made JSON-ready, with
    the exposure KPIs of the ``distance_km`` the ego travelled. Every executor returns this
    form, so they give the same numbers for the same cases."""
    record = json_values(values)
    record.update(exposure_kpis(record, distance_km))
    return record
