"""Events mined from recorded tracks: hard braking, low time to collision, cut-ins.

Pure numpy and pyarrow; no Django. The input is a track table in the schema of
:mod:`validation.lake` (a converted CommonRoad recording or a landed Parquet drive), as a
``pyarrow.Table`` or a dict of numpy arrays. :func:`mine` returns the events of one drive:

- ``hard_braking``: a vehicle decelerates harder than ``Thresholds.hard_braking`` (m/s²,
  default 4) along its direction of travel. One event per run of consecutive samples above the
  threshold lasting at least ``Thresholds.min_duration`` s; the peak is the largest
  deceleration (m/s², positive).
- ``low_ttc``: the time to collision with the lead vehicle in the same lane falls below
  ``Thresholds.ttc`` (s, default 2). The lead is the closest other vehicle whose centre lies
  ahead along the follower's heading and in the follower's lane (``lane_id``, -1 never
  matches); gap and TTC as :func:`validation.kpis.ttc` computes them. One event per run of
  samples below the threshold against the same lead; the peak is the smallest TTC (s).
- ``cut_in``: a vehicle enters a lane (its ``lane_id`` changes from one sample to the next,
  both on the lane network) ahead of a vehicle that was already in that lane, with a gap of at
  most ``Thresholds.cut_in_gap`` m (default 30). A lane change behind the vehicle, or into a
  lane the vehicle itself is just entering, is none. The event spans the last sample before and
  the first sample in the new lane; the peak is the gap at entry (m).

Whose events: the ego's only (``Thresholds.all_vehicles`` false, for fleet drives), or every
vehicle's (true, for infrastructure recordings such as NGSIM, where no vehicle is special).
The actors of an event are object ids: the subject first, then the lead or the vehicle cutting
in. Times are the table's ``t`` (s).

Samples: rows of one object must come in strictly increasing time (within its case), and the
kinematic columns must be finite; otherwise :class:`MiningError` says which object and when.
A time step longer than ``Thresholds.max_step`` (default 2.5 times the drive's typical step)
is a gap in the recording: no event bridges it and no lane change across it counts.

The exposure of the drive (:func:`exposure`) is the distance and time the mined vehicles were
recorded over, counted once per drive.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from validation import kpis

__all__ = [
    "KINDS",
    "Event",
    "MiningError",
    "Thresholds",
    "events_digest",
    "exposure",
    "mine",
    "read_drive",
]

HARD_BRAKING = "hard_braking"
LOW_TTC = "low_ttc"
CUT_IN = "cut_in"
KINDS = (HARD_BRAKING, LOW_TTC, CUT_IN)
#: Unit of each kind's peak value.
PEAK_UNITS = {HARD_BRAKING: "m/s2", LOW_TTC: "s", CUT_IN: "m"}

_COLUMNS = ("t", "object_id", "is_ego", "x", "y", "vx", "vy", "ax", "ay", "length")
_FINITE = ("t", "x", "y", "vx", "vy", "ax", "ay", "length")
#: Below this speed (m/s) a vehicle has no direction of travel: it neither brakes nor follows.
MIN_SPEED = 0.1


class MiningError(ValueError):
    """Track data events cannot be mined from, with the reason."""


@dataclass(frozen=True)
class Thresholds:
    """What counts as an event (see the module documentation)."""

    hard_braking: float = 4.0
    ttc: float = 2.0
    cut_in_gap: float = 30.0
    min_duration: float = 0.0
    max_step: float | None = None
    all_vehicles: bool = False

    def __post_init__(self) -> None:
        for name in ("hard_braking", "ttc", "cut_in_gap"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise MiningError(f"threshold {name} must be a positive number, not {value!r}")
        if not (math.isfinite(self.min_duration) and self.min_duration >= 0):
            raise MiningError("threshold min_duration must be zero or more")
        if self.max_step is not None and not (self.max_step > 0):
            raise MiningError("threshold max_step must be positive")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    """One mined event of a drive."""

    kind: str
    drive: str
    case: str
    actors: tuple[int, ...]
    t_start: float
    t_end: float
    peak: float
    parameters: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def unit(self) -> str:
        return PEAK_UNITS[self.kind]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "drive": self.drive,
            "case": self.case,
            "actors": list(self.actors),
            "t_start": self.t_start,
            "t_end": self.t_end,
            "peak": self.peak,
            "unit": self.unit,
            "parameters": self.parameters,
        }


def events_digest(events: list[Event]) -> str:
    """SHA-256 of the canonical JSON of the events (sorted keys, compact separators)."""
    data = json.dumps(
        [e.as_json() for e in events], sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(data.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Reading and checking the samples
# --------------------------------------------------------------------------------------------


def read_drive(data: bytes, name: str) -> Any:
    """The track table of a drive file's bytes: CommonRoad XML (``.xml``) or a Parquet drive
    (``.parquet``), told apart by the content. ``name`` is how messages name the file."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from validation import lake

    if not data:
        raise MiningError(f"{name}: the file is empty")
    if data[:4] == b"PAR1":
        try:
            table = pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            raise MiningError(f"{name}: not a readable Parquet file ({exc})") from None
        try:
            return lake.validate_table(table)
        except lake.LakeError as exc:
            raise MiningError(f"{name}: {exc}") from None
    try:
        return lake.convert_commonroad(data, Path(name).stem, name=name).table
    except lake.LakeError as exc:
        raise MiningError(str(exc)) from None


@dataclass
class _Samples:
    """The rows of a drive sorted by case, object and time, with what mining derives."""

    case: np.ndarray  # int codes
    case_names: list[str]
    t: np.ndarray
    obj: np.ndarray
    ego: np.ndarray
    x: np.ndarray
    y: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    length: np.ndarray
    lane: np.ndarray
    speed: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    a_long: np.ndarray
    cont: np.ndarray  # the sample continues the previous one (same track, no gap)
    track_start: np.ndarray


def _array(table: Any, name: str) -> np.ndarray:
    if isinstance(table, Mapping):
        if name not in table:
            raise MiningError(f"the track data lacks column {name!r}")
        col = table[name]
    else:
        if name not in table.column_names:
            raise MiningError(f"the track table lacks column {name!r}")
        col = table.column(name)
        if col.null_count:
            raise MiningError(f"column {name!r} has missing values")
        col = col.to_numpy()
    return np.asarray(col)


def _samples(table: Any, thresholds: Thresholds) -> _Samples:
    cols = {name: _array(table, name) for name in _COLUMNS}
    n = cols["t"].size
    if any(c.size != n for c in cols.values()):
        raise MiningError("the track columns differ in length")
    if n == 0:
        raise MiningError("the track is empty: no samples to mine")
    lane = _array(table, "lane_id") if _has(table, "lane_id") else np.full(n, -1)
    floats = {}
    for name in _FINITE:
        try:
            floats[name] = np.asarray(cols[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise MiningError(f"column {name!r} is not numeric") from None
    try:
        case, names = kpis._case_codes(table)  # dictionary encoding in Arrow: no string sort
    except kpis.KpiError as exc:
        raise MiningError(str(exc)) from None
    if case.size != n:
        raise MiningError("the track columns differ in length")
    case = case.astype(np.int64)
    case_names = [str(c) for c in names]
    obj = np.asarray(cols["object_id"]).astype(np.int64)
    for name in _FINITE:
        bad = ~np.isfinite(floats[name])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise MiningError(
                f"{int(bad.sum())} sample(s) have no finite {name!r}, the first of object "
                f"{obj[i]} at t={floats['t'][i]:g} s in case {case_names[case[i]]!r}"
            )
    # rows grouped by track (case, object) in the order given: one stable integer sort; a
    # track is out of time order when its rows, as given, go back in time
    low = int(obj.min())
    track = case * (int(obj.max()) - low + 1) + (obj - low)
    order = np.argsort(track, kind="stable")
    t_sorted = floats["t"][order]
    same = track[order][1:] == track[order][:-1]
    back = same & (t_sorted[1:] < t_sorted[:-1])
    if back.any():
        i = order[int(np.flatnonzero(back)[0]) + 1]
        raise MiningError(
            f"object {obj[i]} of case {case_names[case[i]]!r} goes back in time "
            f"to t={floats['t'][i]:g} s: its samples must be in time order"
        )
    case, obj = case[order], obj[order]
    f = {k: v[order] for k, v in floats.items()}
    ego = np.asarray(cols["is_ego"], dtype=bool)[order]
    lane = np.asarray(lane).astype(np.int64)[order]

    same_track = np.r_[False, (case[1:] == case[:-1]) & (obj[1:] == obj[:-1])]
    step = np.r_[np.inf, np.diff(f["t"])]
    repeat = same_track & (step <= 0.0)
    if repeat.any():
        i = int(np.flatnonzero(repeat)[0])
        raise MiningError(
            f"object {obj[i]} of case {case_names[case[i]]!r} has two samples at t={f['t'][i]:g} s"
        )
    steps = step[same_track]
    typical = float(np.median(steps)) if steps.size else 0.0
    max_step = thresholds.max_step or (2.5 * typical if typical > 0 else math.inf)
    cont = same_track & (step <= max_step + 1e-9)

    speed = np.hypot(f["vx"], f["vy"])
    moving = speed > MIN_SPEED
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(moving, f["vx"] / speed, 1.0)
        sin = np.where(moving, f["vy"] / speed, 0.0)
    a_long = np.where(moving, f["ax"] * cos + f["ay"] * sin, 0.0)
    return _Samples(
        case=case,
        case_names=case_names,
        t=f["t"],
        obj=obj,
        ego=ego,
        x=f["x"],
        y=f["y"],
        vx=f["vx"],
        vy=f["vy"],
        length=f["length"],
        lane=lane,
        speed=speed,
        cos=cos,
        sin=sin,
        a_long=a_long,
        cont=cont,
        track_start=~same_track,
    )


def _has(table: Any, name: str) -> bool:
    return name in table if isinstance(table, Mapping) else name in table.column_names


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


def _runs(flag: np.ndarray, cont: np.ndarray, key: np.ndarray | None = None) -> np.ndarray:
    """(start, end) row positions (inclusive) of runs of consecutive flagged samples; a run
    breaks where a sample does not continue the previous one or ``key`` changes."""
    joined = flag.copy()
    joined[1:] &= flag[:-1] & cont[1:]
    if key is not None:
        joined[1:] &= key[1:] == key[:-1]
    joined[0] = False
    starts = np.flatnonzero(flag & ~joined)
    # a run ends where the next sample does not join it
    ends_mask = flag.copy()
    ends_mask[:-1] &= ~joined[1:]
    ends = np.flatnonzero(ends_mask)
    return np.column_stack([starts, ends])


def _event(s: _Samples, kind: str, drive: str, i: int, j: int, actors, peak, params) -> Event:
    return Event(
        kind=kind,
        drive=drive,
        case=s.case_names[s.case[i]],
        actors=tuple(int(a) for a in actors),
        t_start=round(float(s.t[i]), 6),
        t_end=round(float(s.t[j]), 6),
        peak=round(float(peak), 6),
        parameters=params,
    )


def _hard_braking(s: _Samples, subject: np.ndarray, th: Thresholds, drive: str) -> list[Event]:
    decel = -s.a_long
    flag = subject & (decel > th.hard_braking)
    params = {"threshold": th.hard_braking, "min_duration": th.min_duration}
    out = []
    for i, j in _runs(flag, s.cont).tolist():
        if s.t[j] - s.t[i] + 1e-9 < th.min_duration:
            continue
        peak = decel[i : j + 1].max()
        out.append(_event(s, HARD_BRAKING, drive, i, j, [s.obj[i]], peak, params))
    return out


def _pairs(s: _Samples, subject: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (subject row, other row) of the same case, time and lane (on the lane network),
    with the other's distance along the subject's heading."""
    on_lane = np.flatnonzero(s.lane >= 0)
    if on_lane.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    order = on_lane[np.lexsort((s.lane[on_lane], s.t[on_lane], s.case[on_lane]))]
    key_case, key_t, key_lane = s.case[order], s.t[order], s.lane[order]
    new = np.r_[
        True,
        (key_case[1:] != key_case[:-1])
        | (key_t[1:] != key_t[:-1])
        | (key_lane[1:] != key_lane[:-1]),
    ]
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, order.size])
    is_subject = subject[order]
    pos = np.flatnonzero(is_subject)
    counts = sizes[group[pos]]
    total = int(counts.sum())
    first = np.repeat(starts[group[pos]], counts)
    offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    a = order[np.repeat(pos, counts)]
    b = order[first + offset]
    keep = a != b
    a, b = a[keep], b[keep]
    along = (s.x[b] - s.x[a]) * s.cos[a] + (s.y[b] - s.y[a]) * s.sin[a]
    return a, b, along


def _leads(s: _Samples, subject: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the lead row (-1 without) and the bumper-to-bumper gap to it (m)."""
    n = s.t.size
    lead = np.full(n, -1, dtype=np.int64)
    gap = np.full(n, np.inf)
    a, b, along = _pairs(s, subject & (s.speed > MIN_SPEED))
    ahead = along > 0.0
    a, b, along = a[ahead], b[ahead], along[ahead]
    if a.size == 0:
        return lead, gap
    order = np.lexsort((along, a))
    a, b, along = a[order], b[order], along[order]
    firsts = np.r_[True, a[1:] != a[:-1]]
    a, b, along = a[firsts], b[firsts], along[firsts]
    lead[a] = b
    gap[a] = along - 0.5 * (s.length[a] + s.length[b])
    return lead, gap


def _low_ttc(s: _Samples, subject: np.ndarray, th: Thresholds, drive: str) -> list[Event]:
    lead, gap = _leads(s, subject)
    has = lead >= 0
    ttc = np.full(s.t.size, np.inf)
    rows = np.flatnonzero(has)
    v_lead = s.vx[lead[rows]] * s.cos[rows] + s.vy[lead[rows]] * s.sin[rows]
    ttc[rows] = kpis.ttc(gap[rows], s.speed[rows], v_lead)
    # a lead is the same vehicle from sample to sample by its object id
    lead_obj = np.where(has, s.obj[np.maximum(lead, 0)], -1)
    flag = has & (ttc < th.ttc)
    params = {"threshold": th.ttc}
    out = []
    for i, j in _runs(flag, s.cont, lead_obj).tolist():
        k = i + int(np.argmin(ttc[i : j + 1]))
        extra = {**params, "gap_m": round(float(gap[k]), 6)}
        out.append(
            _event(s, LOW_TTC, drive, i, j, [s.obj[i], lead_obj[i]], ttc[i : j + 1].min(), extra)
        )
    return out


def _cut_ins(s: _Samples, subject: np.ndarray, th: Thresholds, drive: str) -> list[Event]:
    n = s.t.size
    prev_lane = np.r_[-2, s.lane[:-1]]
    changed = s.cont & (s.lane >= 0) & (prev_lane >= 0) & (s.lane != prev_lane)
    if not changed.any():
        return []
    stayed = s.cont & (s.lane == prev_lane)  # in this lane at the previous sample too
    a, b, along = _pairs(s, subject & stayed)
    keep = changed[b] & (along > 0.0)
    a, b, along = a[keep], b[keep], along[keep]
    gap = along - 0.5 * (s.length[a] + s.length[b])
    near = gap <= th.cut_in_gap
    a, b, gap = a[near], b[near], gap[near]
    if a.size == 0:
        return []
    # the vehicle cut in on is the nearest one behind the entering vehicle
    order = np.lexsort((gap, b))
    a, b, gap = a[order], b[order], gap[order]
    first = np.r_[True, b[1:] != b[:-1]]
    a, b, gap = a[first], b[first], gap[first]
    params = {"gap_threshold": th.cut_in_gap}
    out = []
    prev = np.arange(n) - 1
    for ai, bi, g in zip(a.tolist(), b.tolist(), gap.tolist(), strict=True):
        thw = kpis.thw(g, float(s.speed[ai]))
        extra = {
            **params,
            "from_lane": int(s.lane[prev[bi]]),
            "to_lane": int(s.lane[bi]),
            "thw_s": round(thw, 6) if math.isfinite(thw) else None,
        }
        out.append(_event(s, CUT_IN, drive, prev[bi], bi, [s.obj[ai], s.obj[bi]], g, extra))
    return out


def mine(table: Any, drive: str, thresholds: Thresholds | None = None) -> list[Event]:
    """The events of one drive's track table, ordered by case, start time, kind and actors.

    ``drive`` names the drive in the events (as the user gave it). Raises
    :class:`MiningError` for an empty table, a missing column, a sample that is not finite,
    or a track out of time order.
    """
    th = thresholds or Thresholds()
    s = _samples(table, th)
    subject = np.ones(s.t.size, dtype=bool) if th.all_vehicles else s.ego
    events = (
        _hard_braking(s, subject, th, drive)
        + _low_ttc(s, subject, th, drive)
        + _cut_ins(s, subject, th, drive)
    )
    return sorted(events, key=lambda e: (e.case, e.t_start, e.kind, e.actors, e.t_end))


def exposure(table: Any, thresholds: Thresholds | None = None) -> dict[str, float]:
    """Distance (km, path length) and time (s) over which the mined vehicles were recorded:
    the ego's (or every vehicle's with ``all_vehicles``), summed over cases; gaps in the
    recording count neither distance nor time."""
    th = thresholds or Thresholds()
    s = _samples(table, th)
    subject = np.ones(s.t.size, dtype=bool) if th.all_vehicles else s.ego
    step = subject & s.cont & np.r_[False, subject[:-1]]
    idx = np.flatnonzero(step)
    metres = float(np.hypot(s.x[idx] - s.x[idx - 1], s.y[idx] - s.y[idx - 1]).sum())
    seconds = float((s.t[idx] - s.t[idx - 1]).sum())
    return {"distance_km": round(metres / 1000.0, 9), "duration_s": round(seconds, 6)}
