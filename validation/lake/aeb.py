"""Generated AEB drives: a longitudinal AEB model on a straight road, and a lake of its cases.

Euro NCAP car-to-car rear scenarios (stationary, moving, braking target), a cut-in and a
pedestrian crossing from the nearside (CPNA-like), with background traffic, written as track
tables (:mod:`validation.lake.schema`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from validation.lake.parquet import write_tracks
from validation.lake.schema import TRACK_SCHEMA, LakeError

#: Logical scenarios the generator knows (Euro NCAP car-to-car rear names, a cut-in and a
#: crossing pedestrian).
AEB_SCENARIOS = ("ccrs", "ccrm", "ccrb", "cut_in", "cpna")
#: The scenarios :func:`random_case_params` draws from (the car-to-car ones).
LAKE_SCENARIOS = ("ccrs", "ccrm", "ccrb", "cut_in")

DT = 0.1  # s, 10 Hz
GRAVITY = 9.81  # m/s²
FRICTION = {"dry": 1.0, "wet": 0.6}
#: Extra perception delay (s) by lighting: an illustrative model of harder detection.
LIGHTING_DELAY = {"day": 0.0, "night": 0.1, "low_sun": 0.2}
#: Further delay (s) before a pedestrian is confirmed, by lighting: a person is a small, weak
#: radar target, so the camera has to confirm it, which takes longer with less light.
PEDESTRIAN_DELAY = {"day": 0.1, "night": 0.4, "low_sun": 0.3}
#: The crossing pedestrian: body (m), walking speed (km/h), where it starts across the road
#: (m to the right of the ego's centre line) and the margin (m) the AEB adds to the ego's width
#: when it predicts whether the pedestrian will be in its path.
PEDESTRIAN = {"length": 0.5, "width": 0.6, "speed": 5.0, "start": 6.0, "margin": 0.2}

EGO_LENGTH, EGO_WIDTH = 4.7, 1.85

#: AEB controller: warning, partial and full braking stages by TTC (s), decelerations (m/s²),
#: a jerk limit (m/s³) on brake apply and release, and the activation speed window (m/s).
AEB = {
    "warning_ttc": 2.6,
    "partial_ttc": 2.0,
    "full_ttc": 1.3,
    "partial_decel": 4.0,
    "full_decel": 10.0,
    "jerk_limit": 30.0,
    "min_speed": 5.0 / 3.6,
    "max_speed": 80.0 / 3.6,
}

#: The parameters :func:`generate_drive` understands.
PARAM_KEYS = frozenset(
    {
        "scenario",
        "ego_speed",
        "target_speed",
        "target_decel",
        "target_brake_time",
        "initial_gap",
        "lateral_offset",
        "friction",
        "surface",
        "lighting",
        "duration",
        "cut_in_time",
        "lane_change_duration",
        "lane_width",
        "target_length",
        "target_width",
        "background",
        "aeb",
        "aeb_latency",
        "pedestrian_speed",
        "impact_point",
    }
)


def _friction(value: Any) -> float:
    if isinstance(value, str):
        if value not in FRICTION:
            raise LakeError(
                f"friction must be one of {sorted(FRICTION)} or a number, not {value!r}"
            )
        return FRICTION[value]
    mu = float(value)
    if not 0.05 <= mu <= 1.2:
        raise LakeError(f"friction coefficient {mu} outside 0.05..1.2")
    return mu


def _resolve_params(params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    unknown = sorted(set(params) - PARAM_KEYS)
    if unknown:
        raise LakeError(f"unknown drive parameter(s): {', '.join(unknown)}")
    p = dict(params)
    scenario = p.get("scenario", "ccrs")
    if scenario not in AEB_SCENARIOS:
        raise LakeError(f"scenario must be one of {AEB_SCENARIOS}, not {scenario!r}")
    ego_kph = float(p.get("ego_speed", 50.0))
    if not 0.0 < ego_kph <= 250.0:
        raise LakeError(f"ego_speed {ego_kph} km/h outside 0..250")
    default_target = {"ccrs": 0.0, "ccrm": 20.0, "ccrb": ego_kph, "cut_in": ego_kph - 20.0}
    target_kph = (
        0.0
        if scenario in ("ccrs", "cpna")
        else float(p.get("target_speed", default_target[scenario]))
    )
    if target_kph < 0.0:
        raise LakeError(f"target_speed {target_kph} km/h is negative")
    v_e, v_t = ego_kph / 3.6, target_kph / 3.6
    closing = max(v_e - v_t, 0.0)
    default_gap = {"ccrb": 12.0, "cut_in": 25.0}.get(scenario, max(20.0, 4.0 * closing + 10.0))
    crossing = _crossing(p, v_e) if scenario == "cpna" else None
    gap = crossing["gap"] if crossing else float(p.get("initial_gap", default_gap))
    if gap <= 0.0:
        raise LakeError(f"initial_gap {gap} m must be positive")
    lane_w = float(p.get("lane_width", 3.5))
    t_len = float(p.get("target_length", PEDESTRIAN["length"] if crossing else 4.5))
    t_wid = float(p.get("target_width", PEDESTRIAN["width"] if crossing else 1.8))
    offset = crossing["start"] if crossing else float(p.get("lateral_offset", 0.0))
    if crossing is None and (
        abs(offset) >= 0.5 * (EGO_WIDTH + t_wid) or abs(offset) > lane_w / 2.0
    ):
        raise LakeError(
            f"lateral_offset {offset} m leaves no overlap with the ego or leaves the lane"
        )
    surface = p.get("friction", p.get("surface", "dry"))
    lighting = p.get("lighting", "day")
    if lighting not in LIGHTING_DELAY:
        raise LakeError(f"lighting must be one of {sorted(LIGHTING_DELAY)}, not {lighting!r}")
    latency = p.get("aeb_latency")
    latency = float(rng.uniform(0.2, 0.35)) if latency is None else float(latency)
    duration = float(p.get("duration", 10.0))
    if not 0.0 < duration <= 600.0:
        raise LakeError(f"duration {duration} s outside 0..600")
    if float(p.get("lane_change_duration", 2.5)) <= 0.0:
        raise LakeError("lane_change_duration must be positive")
    background = int(p.get("background", 2))
    if background < 0:
        raise LakeError("background must be >= 0")
    return {
        "scenario": scenario,
        "v_e": v_e,
        "v_t": v_t,
        "target_decel": abs(float(p.get("target_decel", 4.0))),
        "target_brake_time": float(p.get("target_brake_time", 2.0)),
        "gap": gap,
        "offset": offset,
        "mu": _friction(surface),
        "latency": latency
        + LIGHTING_DELAY[lighting]
        + (PEDESTRIAN_DELAY[lighting] if crossing else 0.0),
        "v_walk": crossing["v_walk"] if crossing else 0.0,
        "duration": duration,
        "cut_in_time": float(p.get("cut_in_time", 1.0)),
        "lane_change_duration": float(p.get("lane_change_duration", 2.5)),
        "lane_w": lane_w,
        "t_len": t_len,
        "t_wid": t_wid,
        "background": background,
        "aeb": bool(p.get("aeb", True)),
    }


def _crossing(p: Mapping[str, Any], v_e: float) -> dict[str, float]:
    """Where a crossing pedestrian starts so that, without braking, the ego's front meets it at
    ``impact_point`` (0 the ego's right corner, 1 its left one): the pedestrian walks from
    ``PEDESTRIAN["start"]`` m to the right at ``pedestrian_speed`` km/h, and the ego starts that
    walk's duration away at its speed."""
    if "initial_gap" in p or "lateral_offset" in p:
        raise LakeError("cpna places the pedestrian from impact_point: no initial_gap or offset")
    v_walk = float(p.get("pedestrian_speed", PEDESTRIAN["speed"])) / 3.6
    if not 0.5 / 3.6 <= v_walk <= 20.0 / 3.6:
        raise LakeError("pedestrian_speed must be within 0.5..20 km/h")
    point = float(p.get("impact_point", 0.5))
    if not 0.0 <= point <= 1.0:
        raise LakeError(f"impact_point {point} outside 0..1")
    start = -PEDESTRIAN["start"]
    meet = -EGO_WIDTH / 2.0 + point * EGO_WIDTH
    return {"v_walk": v_walk, "start": start, "gap": v_e * (meet - start) / v_walk}


def _integrate(x0: float, v0: float, accel: np.ndarray) -> tuple[np.ndarray, ...]:
    """Positions, speeds and effective accelerations for a commanded acceleration sequence.

    ``accel[k]`` acts over [t_k, t_k+1]; speed never goes negative (a vehicle that stops stays
    stopped), and the recorded acceleration is the one actually realised:
    ``v[k+1] = v[k] + a[k] dt`` and ``x[k+1] = x[k] + (v[k] + v[k+1]) dt / 2``.
    """
    n = accel.size
    x = np.empty(n)
    v = np.empty(n)
    a = np.empty(n)
    x[0], v[0] = x0, v0
    for k in range(n):
        v_next = max(v[k] + accel[k] * DT, 0.0)
        a[k] = (v_next - v[k]) / DT
        if k + 1 < n:
            v[k + 1] = v_next
            x[k + 1] = x[k] + 0.5 * (v[k] + v_next) * DT
    return x, v, a


def _target_motion(p: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    t = np.arange(n) * DT
    cmd = np.zeros(n)
    if p["scenario"] == "ccrb":
        since = t - p["target_brake_time"]
        cmd = np.where(since >= 0.0, -np.minimum(p["target_decel"], 10.0 * since), 0.0)
    x0 = EGO_LENGTH / 2.0 + p["gap"] + p["t_len"] / 2.0
    if p["scenario"] == "cut_in":
        # the gap is the one at the start of the lane change; until then both drive steadily
        x0 += (p["v_e"] - p["v_t"]) * p["cut_in_time"]
    x, v, a = _integrate(x0, p["v_t"], cmd)
    y = np.full(n, p["offset"])
    vy = np.zeros(n)
    ay = np.zeros(n)
    if p["scenario"] == "cpna":  # walking across the road at a steady pace
        vy = np.full(n, p["v_walk"])
        y = p["offset"] + p["v_walk"] * t
    if p["scenario"] == "cut_in":
        y0, y1, dur = p["lane_w"], p["offset"], max(p["lane_change_duration"], DT)
        tau = np.clip((t - p["cut_in_time"]) / dur, 0.0, 1.0)
        moving = (tau > 0.0) & (tau < 1.0)
        y = y0 + (y1 - y0) * (1.0 - np.cos(np.pi * tau)) / 2.0
        vy = np.where(moving, (y1 - y0) * np.pi / (2.0 * dur) * np.sin(np.pi * tau), 0.0)
        ay = np.where(moving, (y1 - y0) * np.pi**2 / (2.0 * dur**2) * np.cos(np.pi * tau), 0.0)
    return {"x": x, "vx": v, "ax": a, "y": y, "vy": vy, "ay": ay}


def _simulate(p: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Ego with AEB against the target. Returns per-step arrays for both, cut at the end."""
    n_max = int(round(p["duration"] / DT)) + 1
    tgt = _target_motion(p, n_max)
    t = np.arange(n_max) * DT
    # small lateral wander of the ego inside its lane, a function of the distance travelled
    # (y = A sin(kx + phase)), so that a standing ego does not move sideways; vy and ay are the
    # exact time derivatives along the longitudinal motion
    amp = float(rng.uniform(0.0, 0.15))
    kappa = 2.0 * math.pi / float(rng.uniform(60.0, 250.0))
    phase = float(rng.uniform(0.0, 2.0 * math.pi))

    cfg = AEB
    delay_steps = max(int(round(p["latency"] / DT)), 0)
    a_max = min(cfg["full_decel"], p["mu"] * GRAVITY)
    jerk_step = cfg["jerk_limit"] * DT
    ex = np.zeros(n_max)
    ev = np.zeros(n_max)
    ea = np.zeros(n_max)
    ey = np.zeros(n_max)
    evy = np.zeros(n_max)
    ev[0] = p["v_e"]
    heading = (1.0, 0.0)
    ttc_seen: list[float] = []
    stage = 0
    a_now = 0.0
    stopped_steps = 0
    end = n_max - 1
    collided = False
    half_w = 0.5 * (EGO_WIDTH + p["t_wid"])
    half_l = 0.5 * (EGO_LENGTH + p["t_len"])
    predict = p["scenario"] == "cpna"
    max_speed = 60.0 / 3.6 if predict else cfg["max_speed"]  # pedestrian AEB: 5 to 60 km/h
    for k in range(n_max):
        ey[k] = amp * math.sin(kappa * ex[k] + phase)
        evy[k] = amp * kappa * math.cos(kappa * ex[k] + phase) * ev[k]
        # perception at step k, with the geometry of validation.kpis: boxes aligned with the
        # ego's heading (its velocity; the last one while standing)
        speed = math.hypot(ev[k], evy[k])
        if speed > 0.1:
            heading = (ev[k] / speed, evy[k] / speed)
        c, s = heading
        dx = tgt["x"][k] - ex[k]
        dy = tgt["y"][k] - ey[k]
        along = dx * c + dy * s
        overlap = abs(dy * c - dx * s) < half_w
        if overlap and abs(along) <= half_l:
            collided = True
            end = k
            ea[k] = ea[k - 1] if k else 0.0  # the row of contact repeats the last interval
            break
        gap = along - half_l
        closing = ev[k] - (tgt["vx"][k] * c + tgt["vy"][k] * s)
        if predict and not overlap and along > 0.0 and closing > 0.0:
            # a crossing target: in the path if it will be there when the ego arrives
            across = (
                dy * c - dx * s + (tgt["vy"][k] * c - tgt["vx"][k] * s - evy[k]) * (gap / closing)
            )
            overlap = abs(across) < half_w + PEDESTRIAN["margin"]
        ttc_k = gap / closing if (overlap and along > 0.0 and closing > 0.0) else math.inf
        ttc_seen.append(ttc_k)
        # decision on what perception reported ``delay_steps`` ago
        seen = ttc_seen[k - delay_steps] if k >= delay_steps else math.inf
        if p["aeb"]:
            wanted = 3 if seen <= cfg["full_ttc"] else 2 if seen <= cfg["partial_ttc"] else 0
            if stage == 0 and not cfg["min_speed"] <= ev[k] <= max_speed:
                wanted = 0  # a new intervention starts only inside the speed window
            if seen == math.inf:
                stage = 0  # nothing closing in the path any more: release
            stage = max(stage, wanted)
        decel = {0: 0.0, 2: cfg["partial_decel"], 3: cfg["full_decel"]}[stage]
        target_a = -min(decel, a_max)
        a_now = min(max(target_a, a_now - jerk_step), a_now + jerk_step)
        v_next = max(ev[k] + a_now * DT, 0.0)
        ea[k] = (v_next - ev[k]) / DT
        stopped_steps = stopped_steps + 1 if ev[k] == 0.0 else 0
        if k + 1 < n_max:
            ev[k + 1] = v_next
            ex[k + 1] = ex[k] + 0.5 * (ev[k] + v_next) * DT
        if stopped_steps >= 10:  # stood still for one second
            end = k
            break
    m = end + 1
    arg = kappa * ex[:m] + phase
    eay = -amp * kappa**2 * np.sin(arg) * ev[:m] ** 2 + amp * kappa * np.cos(arg) * ea[:m]
    return {
        "t": t[:m],
        "ego": {
            "x": ex[:m],
            "y": ey[:m],
            "vx": ev[:m],
            "vy": evy[:m],
            "ax": ea[:m],
            "ay": eay,
        },
        "target": {k: v[:m] for k, v in tgt.items()},
        "collided": collided,
    }


def _lane_frame(y: np.ndarray, lane_w: float) -> tuple[np.ndarray, np.ndarray]:
    """Lane id (ego lane 1, left 2, right 0, ...) and offset from that lane's centre."""
    lane = np.floor((y + lane_w / 2.0) / lane_w).astype(np.int64) + 1
    return lane.astype(np.int32), y - (lane - 1) * lane_w


def _background(
    n_objects: int, t: np.ndarray, p: dict[str, Any], rng: np.random.Generator
) -> list[dict[str, np.ndarray]]:
    """Vehicles at constant speed in the adjacent lanes; one speed per lane, 25 m+ apart."""
    out: list[dict[str, np.ndarray]] = []
    if n_objects == 0:
        return out
    # the cut-in target comes from lane 2 and the pedestrian from the right (lane 0)
    lanes = {"cut_in": [0], "cpna": [2]}.get(p["scenario"], [0, 2])
    speed = {lane: p["v_e"] * float(rng.uniform(0.5, 1.2)) for lane in lanes}
    next_x = {lane: float(rng.uniform(-60.0, 0.0)) for lane in lanes}
    for i in range(n_objects):
        lane = lanes[i % len(lanes)]
        length = float(rng.uniform(4.0, 5.2))
        x0 = next_x[lane]
        next_x[lane] = x0 + length + float(rng.uniform(25.0, 60.0))
        n = t.size
        out.append(
            {
                "x": x0 + speed[lane] * t,
                "y": np.full(n, (lane - 1) * p["lane_w"]),
                "vx": np.full(n, speed[lane]),
                "vy": np.zeros(n),
                "ax": np.zeros(n),
                "ay": np.zeros(n),
                "length": length,
                "width": 1.8,
            }
        )
    return out


def _drive_table(
    drive_id: str,
    case_id: str,
    t: np.ndarray,
    objects: list[dict[str, Any]],
    lane_w: float,
) -> pa.Table:
    """Assemble rows ordered by time, then object (object i has object_id i, 0 is the ego)."""
    n_t, n_o = t.size, len(objects)

    def stack(key: str) -> np.ndarray:
        return np.stack([np.broadcast_to(o[key], (n_t,)) for o in objects], axis=1).ravel()

    y = stack("y")
    lane, offset = _lane_frame(y, lane_w)
    n = n_t * n_o
    arrays = {
        "drive_id": pa.array([drive_id] * n, pa.string()),
        "case_id": pa.array([case_id] * n, pa.string()),
        "t": np.repeat(np.round(t, 6), n_o),
        "object_id": np.tile(np.arange(n_o, dtype=np.int32), n_t),
        "is_ego": np.tile(np.arange(n_o) == 0, n_t),
        "x": stack("x"),
        "y": y,
        "vx": stack("vx"),
        "vy": stack("vy"),
        "ax": stack("ax"),
        "ay": stack("ay"),
        "length": stack("length").astype(np.float64),
        "width": stack("width").astype(np.float64),
        "lane_id": lane,
        "lane_offset": offset,
        "lane_width": np.full(n, lane_w),
    }
    return pa.Table.from_arrays(
        [pa.array(arrays[f.name]) for f in TRACK_SCHEMA], schema=TRACK_SCHEMA
    )


def _drive_parts(
    case_id: str, params: Mapping[str, Any], seed: int
) -> tuple[dict[str, Any], dict[str, Any], np.random.Generator]:
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xAEB]))
    p = _resolve_params(params, rng)
    sim = _simulate(p, rng)
    return p, sim, rng


def _objects(p: dict[str, Any], sim: dict[str, Any], n_background: int, rng: Any) -> list:
    ego = dict(sim["ego"], length=EGO_LENGTH, width=EGO_WIDTH)
    target = dict(sim["target"], length=p["t_len"], width=p["t_wid"])
    return [ego, target, *_background(n_background, sim["t"], p, rng)]


def generate_drive(
    case_id: str,
    params: Mapping[str, Any],
    seed: int = 0,
    drive_id: str | None = None,
) -> pa.Table:
    """Simulate one AEB test case at 10 Hz and return its track table (``TRACK_SCHEMA``).

    Objects: the ego (object 0, ``is_ego``), the target (object 1) and ``background`` vehicles
    (default 2) at constant speed in the adjacent lanes. Road: straight lanes of ``lane_width``
    along x, the ego's lane is lane 1 centred on y = 0, lane 2 is to its left.

    ``params`` (all optional):

    - ``scenario``: ``ccrs`` stopped target, ``ccrm`` slower target, ``ccrb`` braking target,
      ``cut_in`` target changing from the left lane into the ego lane, ``cpna`` a pedestrian
      crossing from the right (default ``ccrs``)
    - ``ego_speed``, ``target_speed`` (km/h), ``target_decel`` (m/s², ccrb), ``target_brake_time``
      (s, ccrb), ``initial_gap`` (m, bumper to bumper at t = 0; for ``cut_in`` at the start of
      the lane change), ``lateral_offset`` (m, target
      centre from ego lane centre; must leave a lateral overlap with the ego)
    - ``friction`` or ``surface``: ``dry`` (μ 1.0), ``wet`` (μ 0.6) or a number; braking is
      limited to μ·g
    - ``lighting``: ``day``, ``night`` or ``low_sun`` (adds 0, 0.1 or 0.2 s perception delay;
      a pedestrian is confirmed a further 0.1, 0.4 or 0.3 s later)
    - ``cpna`` only: ``pedestrian_speed`` (km/h, default 5) and ``impact_point`` (0..1 across
      the ego's front from its right corner, default 0.5) place the pedestrian (0.5 x 0.6 m)
      6 m to the right of the ego's centre line, and the ego where it would meet it there
      without braking; ``initial_gap`` and ``lateral_offset`` do not apply
    - ``duration`` (s, default 10), ``cut_in_time`` and ``lane_change_duration`` (s),
      ``lane_width`` (m), ``target_length``/``target_width`` (m), ``background`` (count),
      ``aeb`` (bool, default true), ``aeb_latency`` (s; default drawn from the seed in 0.2..0.35)

    The AEB (no driver reaction assumed) warns at TTC <= 2.6 s, brakes partially (4 m/s²) at
    TTC <= 2.0 s and fully (10 m/s², at most μ·g) at TTC <= 1.3 s, on what perception saw
    ``aeb_latency`` earlier, with a 30 m/s³ jerk limit; it starts only between 5 and 80 km/h,
    escalates but never steps down a stage, and releases once nothing closes in its path
    (target stopped relative to the ego, moved away or left the path). For a crossing
    pedestrian it predicts the path: the pedestrian counts as in the path when, walking on, it
    will be across the ego's width (plus 0.2 m) by the time the ego reaches it, and the
    pedestrian AEB starts only between 5 and 60 km/h. The warning stage has no
    effect on the motion (no driver reaction is modelled). Kinematics are
    integrated with ``v[k+1] = v[k] + a[k] dt`` and ``x[k+1] = x[k] + (v[k] + v[k+1]) dt / 2``;
    the recorded acceleration is the realised one (a stopping vehicle's deceleration drops to 0,
    which shows as a jerk spike). The case ends at the first step with a gap <= 0 and lateral
    overlap (a collision, that row included), after the ego has stood still for 1 s, or after
    ``duration``. The seed drives the latency, the ego's lateral wander and the background
    traffic: the same seed and parameters give the same table.
    """
    p, sim, rng = _drive_parts(case_id, params, seed)
    objects = _objects(p, sim, p["background"], rng)
    return _drive_table(drive_id or case_id, case_id, sim["t"], objects, p["lane_w"])


def random_case_params(rng: np.random.Generator) -> dict[str, Any]:
    """Draw the parameters of one AEB case from the demo's logical scenarios (seeded ``rng``)."""
    scenario = LAKE_SCENARIOS[int(rng.integers(len(LAKE_SCENARIOS)))]
    surface = "wet" if rng.random() < 0.3 else "dry"
    lighting = ("day", "night", "low_sun")[int(rng.choice(3, p=[0.7, 0.2, 0.1]))]
    p: dict[str, Any] = {"scenario": scenario, "surface": surface, "lighting": lighting}
    offset = float(np.round(rng.uniform(-0.9, 0.9), 2))
    if scenario == "ccrs":
        p.update(ego_speed=float(np.round(rng.uniform(10, 80))), lateral_offset=offset)
    elif scenario == "ccrm":
        p.update(
            ego_speed=float(np.round(rng.uniform(30, 80))),
            target_speed=float(np.round(rng.uniform(10, 20))),
            lateral_offset=offset,
        )
    elif scenario == "ccrb":
        speed = float(np.round(rng.uniform(50, 80)))
        p.update(
            ego_speed=speed,
            target_speed=speed,
            target_decel=float(np.round(rng.uniform(2.0, 6.0), 1)),
            initial_gap=float(np.round(rng.uniform(12, 40))),
        )
    else:
        speed = float(np.round(rng.uniform(40, 80)))
        p.update(
            ego_speed=speed,
            target_speed=float(np.round(speed - rng.uniform(10, 30))),
            initial_gap=float(np.round(rng.uniform(10, 30))),
            lane_change_duration=float(np.round(rng.uniform(1.5, 3.5), 1)),
        )
    return p


def generate_lake(
    folder: str | Path,
    n_cases: int,
    rows_target: int | None = None,
    seed: int = 0,
    cases_per_drive: int = 50,
) -> dict[str, Any]:
    """Write ``n_cases`` generated AEB cases as Parquet, one file per drive, and a manifest.

    Case i is ``case-<i>`` with parameters from :func:`random_case_params` and its own seed,
    both drawn from ``seed``; consecutive cases are grouped ``cases_per_drive`` to a drive
    ``drive-<j>`` written to ``<folder>/drive=<drive_id>/part-0.parquet``. Without
    ``rows_target`` every case carries two background vehicles; with it, background vehicles
    are added to cases in turn until the total row count reaches ``rows_target`` (it may
    overshoot by less than one case's duration). ``<folder>/manifest.json`` lists every case's
    drive, parameters, seed and background count. The same arguments give the same bytes.
    Returns ``{"files", "rows", "cases", "drives", "collisions"}``.
    """
    if n_cases <= 0:
        raise LakeError("n_cases must be positive")
    if cases_per_drive <= 0:
        raise LakeError("cases_per_drive must be positive")
    folder = Path(folder)
    master = np.random.default_rng(np.random.SeedSequence([int(seed), 0x1A4E]))
    specs = []
    for i in range(n_cases):
        params = random_case_params(master)
        case_seed = int(master.integers(0, 2**31 - 1))
        specs.append((f"case-{i:06d}", f"drive-{i // cases_per_drive:05d}", params, case_seed))

    sims = [_drive_parts(case_id, params, s) for case_id, _, params, s in specs]
    steps = np.array([sim["t"].size for _, sim, _ in sims], dtype=np.int64)
    if rows_target is None:
        background = np.full(n_cases, 2, dtype=np.int64)
    else:
        background = np.zeros(n_cases, dtype=np.int64)
        base = int(2 * steps.sum())
        remaining = int(rows_target) - base
        if remaining > 0:
            per_round = int(steps.sum())
            full_rounds = remaining // per_round
            background += full_rounds
            remaining -= full_rounds * per_round
            cum = np.cumsum(steps)
            extra = int(np.searchsorted(cum, remaining, side="left")) + (1 if remaining else 0)
            background[: min(extra, n_cases)] += 1

    files: list[str] = []
    manifest = []
    total_rows = 0
    collisions = 0
    by_drive: dict[str, list[pa.Table]] = {}
    for (case_id, drive_id, params, case_seed), (p, sim, rng), n_bg in zip(
        specs, sims, background.tolist(), strict=True
    ):
        objects = _objects(p, sim, n_bg, rng)
        table = _drive_table(drive_id, case_id, sim["t"], objects, p["lane_w"])
        by_drive.setdefault(drive_id, []).append(table)
        total_rows += table.num_rows
        collisions += int(sim["collided"])
        manifest.append(
            {
                "case_id": case_id,
                "drive_id": drive_id,
                "params": dict(params, background=n_bg),
                "seed": case_seed,
                "rows": table.num_rows,
                "collision": sim["collided"],
            }
        )
    for drive_id, tables in by_drive.items():
        path = folder / f"drive={drive_id}" / "part-0.parquet"
        write_tracks(pa.concat_tables(tables), path)
        files.append(str(path))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(
        json.dumps({"seed": seed, "cases": manifest}, sort_keys=True, indent=1) + "\n",
        encoding="utf-8",
    )
    return {
        "files": files,
        "rows": total_rows,
        "cases": n_cases,
        "drives": len(by_drive),
        "collisions": collisions,
    }
