"""CommonRoad XML scenarios (format 2018b and 2020a) converted to track tables."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from lxml import etree

from compliance.xmlsafe import parse_untrusted
from validation.lake.schema import TRACK_SCHEMA, LakeError

logger = logging.getLogger(__name__)


def _parse_xml(data: bytes, what: str) -> etree._Element:
    """Parse untrusted XML bytes (see :mod:`compliance.xmlsafe`)."""
    root = parse_untrusted(data, what, LakeError)
    return root


def _load_bytes(source: str | Path | bytes, name: str | None = None) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), name or "the CommonRoad file"
    path = Path(source)
    what = name or str(path)
    try:
        return path.read_bytes(), what
    except OSError as exc:
        raise LakeError(f"{what}: cannot read ({exc.strerror or type(exc).__name__})") from exc


def _num(el: etree._Element | None, what: str) -> float | None:
    """A CommonRoad value: ``<exact>`` or the middle of ``<intervalStart>/<intervalEnd>``;
    None when the element is absent. ``what`` says whose value it is, for the message."""
    if el is None:
        return None
    exact = el.findtext("exact")
    try:
        if exact is not None:
            value = float(exact)
        else:
            lo, hi = el.findtext("intervalStart"), el.findtext("intervalEnd")
            if lo is None or hi is None:
                raise LakeError(f"{what} has neither an exact value nor an interval")
            value = 0.5 * (float(lo) + float(hi))
    except ValueError:
        raise LakeError(f"{what} is not a number") from None
    if not math.isfinite(value):
        raise LakeError(f"{what} is not finite")
    return value


def _position(state: etree._Element, what: str) -> tuple[float, float] | None:
    pos = state.find("position")
    if pos is None:
        return None
    point = pos.find("point")
    if point is None:
        point = pos.find("rectangle/center")
    if point is None:
        point = pos.find("circle/center")
    if point is None:
        raise LakeError(f"{what}: only point, rectangle or circle positions are supported")
    try:
        x, y = float(point.findtext("x")), float(point.findtext("y"))
    except (TypeError, ValueError):
        raise LakeError(f"{what}: position coordinates are missing or not numbers") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise LakeError(f"{what}: position coordinates are not finite")
    return x, y


def _shape(obstacle: etree._Element, what: str) -> tuple[float, float]:
    shape = obstacle.find("shape")
    if shape is None or len(shape) == 0:
        raise LakeError(f"{what} has no shape")
    first = shape[0]
    try:
        if first.tag == "rectangle":
            return float(first.findtext("length")), float(first.findtext("width"))
        if first.tag == "circle":
            r = float(first.findtext("radius"))
            return 2.0 * r, 2.0 * r
        if first.tag == "polygon":
            pts = np.array(
                [[float(p.findtext("x")), float(p.findtext("y"))] for p in first.findall("point")]
            )
            ext = pts.max(axis=0) - pts.min(axis=0)
            return float(ext.max()), float(ext.min())
    except (TypeError, ValueError):
        raise LakeError(f"{what}: shape dimensions are missing or not numbers") from None
    raise LakeError(f"{what}: unsupported shape {first.tag!r}")


def _bound(lanelet: etree._Element, side: str) -> np.ndarray:
    pts = [
        (float(p.findtext("x")), float(p.findtext("y"))) for p in lanelet.findall(f"{side}/point")
    ]
    if len(pts) < 2:
        raise LakeError(f"lanelet {lanelet.get('id')}: {side} has fewer than two points")
    return np.array(pts)


def _resample(line: np.ndarray, n: int) -> np.ndarray:
    seg = np.hypot(*np.diff(line, axis=0).T)
    s = np.r_[0.0, np.cumsum(seg)]
    target = np.linspace(0.0, s[-1], n)
    return np.column_stack([np.interp(target, s, line[:, 0]), np.interp(target, s, line[:, 1])])


def _lanelets(root: etree._Element) -> list[dict[str, Any]]:
    out = []
    for ll in root.findall("lanelet"):
        left, right = _bound(ll, "leftBound"), _bound(ll, "rightBound")
        if left.shape[0] != right.shape[0]:
            n = max(left.shape[0], right.shape[0])
            left, right = _resample(left, n), _resample(right, n)
        out.append(
            {
                "id": int(ll.get("id")),
                "left": left,
                "right": right,
                "succ": [int(e.get("ref")) for e in ll.findall("successor") if e.get("ref")],
                "pred": [int(e.get("ref")) for e in ll.findall("predecessor") if e.get("ref")],
            }
        )
    return out


def _lane_ids(lanelets: list[dict[str, Any]]) -> dict[int, int]:
    """Join lanelets into lanes: a lanelet with one successor that has one predecessor
    continues into it. A lane is named by the smallest lanelet id it contains."""
    ids = {ll["id"] for ll in lanelets}
    parent = {i: i for i in ids}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    preds: dict[int, set[int]] = {i: set() for i in ids}
    for ll in lanelets:
        for p in ll["pred"]:
            if p in ids:
                preds[ll["id"]].add(p)
        for s in ll["succ"]:
            if s in ids:
                preds[s].add(ll["id"])
    for ll in lanelets:
        succ = [s for s in set(ll["succ"]) if s in ids]
        if len(succ) == 1 and preds[succ[0]] == {ll["id"]}:
            a, b = find(ll["id"]), find(succ[0])
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {i: find(i) for i in ids}


def _assign_lanes(
    px: np.ndarray, py: np.ndarray, heading: np.ndarray, lanelets: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lane_id, lane_offset and lane_width for points with a heading.

    A point belongs to the lanelets whose polygon (left bound, then right bound reversed)
    contains it (even-odd rule); among several (intersections, overlaps) the one whose centreline
    direction best matches the heading wins, then the smaller offset. A point inside none takes
    the nearest centreline if its body-free distance to that lanelet's edge is at most 2 m, else
    lane_id -1 (offset and width still refer to the nearest lanelet). The offset is measured from
    the centreline (the midpoints of the bounds), positive to its left.
    """
    n = px.size
    lane_of = _lane_ids(lanelets)
    best_score = np.full(n, np.inf)
    lane = np.full(n, -1, dtype=np.int64)
    offset = np.zeros(n)
    width = np.full(n, np.nan)
    inside_any = np.zeros(n, dtype=bool)
    near_edge = np.full(n, np.inf)
    hx, hy = np.cos(heading), np.sin(heading)
    for ll in lanelets:
        left, right = ll["left"], ll["right"]
        poly = np.vstack([left, right[::-1]])
        x1, y1 = poly[:, 0], poly[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        qx, qy = px[:, None], py[:, None]
        crosses = (y1 > qy) != (y2 > qy)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (x2 - x1) * (qy - y1) / (y2 - y1) + x1
        inside = (np.count_nonzero(crosses & (qx < x_at), axis=1) % 2) == 1

        centre = 0.5 * (left + right)
        widths = np.hypot(*(left - right).T)
        c0, c1 = centre[:-1], centre[1:]
        d = c1 - c0
        l2 = np.maximum((d**2).sum(axis=1), 1e-12)
        rx, ry = qx - c0[:, 0], qy - c0[:, 1]
        u = np.clip((rx * d[:, 0] + ry * d[:, 1]) / l2, 0.0, 1.0)
        ex, ey = rx - u * d[:, 0], ry - u * d[:, 1]
        dist2 = ex**2 + ey**2
        seg = np.argmin(dist2, axis=1)
        rows = np.arange(n)
        dseg = d[seg]
        seg_len = np.sqrt(l2[seg])
        signed = (dseg[:, 0] * ey[rows, seg] - dseg[:, 1] * ex[rows, seg]) / seg_len
        w = widths[seg] + u[rows, seg] * (widths[seg + 1] - widths[seg])
        align = (dseg[:, 0] * hx + dseg[:, 1] * hy) / seg_len
        edge = np.abs(signed) - w / 2.0
        score = np.where(inside, (1.0 - align) + 0.01 * np.abs(signed), 100.0 + edge)
        better = score < best_score
        best_score = np.where(better, score, best_score)
        lane = np.where(better, lane_of[ll["id"]], lane)
        offset = np.where(better, signed, offset)
        width = np.where(better, w, width)
        inside_any |= inside
        near_edge = np.where(better, edge, near_edge)
    lane = np.where(inside_any | (near_edge <= 2.0), lane, -1)
    return lane.astype(np.int32), offset, width


@dataclass
class Conversion:
    """A converted CommonRoad file: the track table and what could not be kept as written."""

    table: pa.Table
    warnings: list[str] = field(default_factory=list)


def _obstacle(
    ob: etree._Element, label: str, dt: float, warnings: list[str]
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Shape, states (step, x, y, theta, v) and accelerations of one obstacle.

    A state without time or position is dropped; a missing orientation or velocity is
    derived from the positions (forward/central differences), a missing acceleration from
    the speed. Raises :class:`LakeError` when the obstacle cannot be used at all.
    """
    length, width = _shape(ob, label)
    states = [ob.find("initialState"), *ob.findall("trajectory/state")]
    rows = []
    dropped = 0
    for index, st in enumerate(states):
        if st is None:
            continue
        where = f"{label}, {'initial state' if index == 0 else f'state {index}'}"
        step = _num(st.find("time"), f"{where}: time")
        position = _position(st, where)
        if step is None or position is None:
            dropped += 1
            continue
        theta = _num(st.find("orientation"), f"{where}: orientation")
        v = _num(st.find("velocity"), f"{where}: velocity")
        a = _num(st.find("acceleration"), f"{where}: acceleration")
        rows.append((step, *position, *(math.nan if q is None else q for q in (theta, v, a))))
    if dropped:
        warnings.append(f"{label}: {dropped} state(s) without time or position were left out")
    if not rows:
        raise LakeError(f"{label} has no state with a time and a position")
    arr = np.array(sorted(rows, key=lambda r: r[0]))
    if np.any(np.diff(arr[:, 0]) <= 0):
        raise LakeError(f"{label} repeats a time step")
    derived = []
    for column, quantity in ((3, "orientation"), (4, "velocity")):
        missing = np.isnan(arr[:, column])
        if not missing.any():
            continue
        if arr.shape[0] < 2:
            raise LakeError(f"{label} has no {quantity} and a single state, so none can be derived")
        t = arr[:, 0] * dt
        gx, gy = np.gradient(arr[:, 1], t), np.gradient(arr[:, 2], t)
        estimate = np.arctan2(gy, gx) if column == 3 else np.hypot(gx, gy)
        arr[:, column] = np.where(missing, estimate, arr[:, column])
        derived.append(f"{quantity} in {int(missing.sum())} of {arr.shape[0]} states")
    if derived:
        warnings.append(f"{label}: no {' and no '.join(derived)}; derived from the positions")
    v = arr[:, 4]
    a = arr[:, 5]
    if np.isnan(a).any():
        fill = np.zeros_like(v)
        if v.size > 1:
            steps = np.diff(arr[:, 0]) * dt
            fill[:-1] = np.diff(v) / steps
            fill[-1] = fill[-2]
        a = np.where(np.isnan(a), fill, a)
    return length, width, arr[:, :5], a


def commonroad_to_table(
    source: str | Path | bytes, drive_id: str, name: str | None = None
) -> pa.Table:
    """The track table of :func:`convert_commonroad`; its warnings are logged."""
    conversion = convert_commonroad(source, drive_id, name)
    for warning in conversion.warnings:
        logger.warning("%s", warning)
    return conversion.table


def convert_commonroad(
    source: str | Path | bytes, drive_id: str, name: str | None = None
) -> Conversion:
    """Convert a CommonRoad scenario (format 2018b or 2020a) into a track table.

    - Dynamic obstacles: ``dynamicObstacle`` (2020a) or ``obstacle`` with ``<role>dynamic``
      (2018b). Each state (``initialState`` and ``trajectory/state``) becomes a row at
      ``t = time step × timeStepSize``; ``<exact>`` values are used, intervals by their middle.
    - Velocity and acceleration in CommonRoad are scalars along the orientation; they are split
      into x/y components with the orientation (ax/ay hold only the longitudinal acceleration).
      Where a file has no accelerations (2018b), they are derived by forward difference of the
      speed, ``a[k] = (v[k+1] - v[k]) / dt``, the last state repeating the previous value.
    - Missing kinematic values: a state without time or position is left out; a missing
      orientation or velocity is derived from the positions (the heading and speed of the
      displacement). An obstacle that cannot be used (no shape, no usable state, a single
      state without velocity, a value that is not a number) is skipped. Each case is one
      warning in :attr:`Conversion.warnings` naming the obstacle; the rest of the file imports.
      When no obstacle is left, :class:`LakeError` lists why.
    - Shapes: rectangle length/width; a circle gives its diameter; a polygon its bounding extent.
    - Lanes: obstacles carry no lanelet in these files, so ``lane_id`` comes from point-in-polygon
      tests against the lanelets (see :func:`_assign_lanes`), and lanelets that continue one
      another (single successor / single predecessor) form one lane named by their smallest id.
    - Ego: the planning problem holds only an initial state (no recorded motion), so the ego is
      the obstacle with the most states, the smallest id on a tie.
    - ``case_id`` equals ``drive_id`` (a recording is one case).

    ``name`` is how messages name the file (default: its path, or "the CommonRoad file"). The
    XML is parsed as bytes without DTDs, entities or network access; a DOCTYPE is refused.
    """
    data, what = _load_bytes(source, name)
    root = _parse_xml(data, what)
    if root.tag != "commonRoad":
        raise LakeError(f"{what}: root element is {root.tag!r}, not 'commonRoad'")
    try:
        dt = float(root.get("timeStepSize"))
    except (TypeError, ValueError) as exc:
        raise LakeError(f"{what}: missing or bad timeStepSize") from exc
    if not dt > 0.0:
        raise LakeError(f"{what}: timeStepSize must be positive")
    obstacles = root.findall("dynamicObstacle") + [
        o for o in root.findall("obstacle") if (o.findtext("role") or "").strip() == "dynamic"
    ]
    if not obstacles:
        raise LakeError(f"{what}: no dynamic obstacles")

    warnings: list[str] = []
    skipped: list[str] = []
    per_obj = []
    seen: set[int] = set()
    for number, ob in enumerate(obstacles, start=1):
        raw_id = ob.get("id")
        try:
            oid = int(raw_id)
        except (TypeError, ValueError):
            reason = f"{what}: dynamic obstacle no. {number} has no valid id ({raw_id!r})"
            skipped.append(reason)
            warnings.append(f"{reason}; skipped")
            continue
        label = f"{what}: obstacle {oid}"
        if oid in seen:
            skipped.append(f"{label} repeats an id")
            warnings.append(f"{label} repeats an id; skipped")
            continue
        seen.add(oid)
        try:
            length, width, arr, a = _obstacle(ob, label, dt, warnings)
        except LakeError as exc:
            skipped.append(str(exc))
            warnings.append(f"{exc}; skipped")
            continue
        per_obj.append((oid, length, width, arr, a))
    if not per_obj:
        raise LakeError(
            f"{what}: no dynamic obstacle could be imported: "
            + "; ".join(r.removeprefix(f"{what}: ") for r in skipped)
        )

    ego_id = min(per_obj, key=lambda o: (-o[3].shape[0], o[0]))[0]
    lanelets = _lanelets(root)

    steps = np.concatenate([o[3][:, 0] for o in per_obj])
    oids = np.concatenate([np.full(o[3].shape[0], o[0]) for o in per_obj])
    x = np.concatenate([o[3][:, 1] for o in per_obj])
    y = np.concatenate([o[3][:, 2] for o in per_obj])
    theta = np.concatenate([o[3][:, 3] for o in per_obj])
    speed = np.concatenate([o[3][:, 4] for o in per_obj])
    acc = np.concatenate([o[4] for o in per_obj])
    lengths = np.concatenate([np.full(o[3].shape[0], o[1]) for o in per_obj])
    widths = np.concatenate([np.full(o[3].shape[0], o[2]) for o in per_obj])
    order = np.lexsort((oids, steps))
    steps, oids, x, y, theta, speed, acc, lengths, widths = (
        arr[order] for arr in (steps, oids, x, y, theta, speed, acc, lengths, widths)
    )
    if lanelets:
        lane, offset, lane_w = _assign_lanes(x, y, theta, lanelets)
    else:
        lane = np.full(x.size, -1, dtype=np.int32)
        offset = np.zeros(x.size)
        lane_w = np.full(x.size, math.nan)
    n = x.size
    cols = {
        "drive_id": pa.array([drive_id] * n, pa.string()),
        "case_id": pa.array([drive_id] * n, pa.string()),
        "t": np.round(steps * dt, 6),
        "object_id": oids.astype(np.int32),
        "is_ego": oids == ego_id,
        "x": x,
        "y": y,
        "vx": speed * np.cos(theta),
        "vy": speed * np.sin(theta),
        "ax": acc * np.cos(theta),
        "ay": acc * np.sin(theta),
        "length": lengths,
        "width": widths,
        "lane_id": lane,
        "lane_offset": offset,
        "lane_width": lane_w,
    }
    table = pa.Table.from_arrays(
        [pa.array(cols[f.name]) for f in TRACK_SCHEMA], schema=TRACK_SCHEMA
    )
    return Conversion(table, warnings)
