"""The track tables of test cases: the preparation every executor starts from.

A case is a dict ``{"case_id", "scenario", "params", "source"}`` where ``source`` is either
``{"kind": "simulate", "seed": n}`` (the drive is simulated from the parameters by the seeded
AEB model of :mod:`validation.lake`) or ``{"kind": "drive", "uri": path}`` (a recorded drive in
the data lake, in the track schema).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa

from validation import lake
from validation.execution.base import ExecutorError


def generator_params(scenario: str, params: dict[str, Any]) -> dict[str, Any]:
    """Map a concrete case's parameters onto the drive simulator's.

    The demo's own parameter spaces use the simulator's names already. The esmini cut-in names
    its parameters ``EgoSpeed`` (km/h), ``TargetSpeedFactor`` and ``HeadwayTime_LaneChange``
    (s): they become ego and target speed and the gap at the start of the lane change.
    """
    mapped = {k: v for k, v in params.items() if k in lake.PARAM_KEYS}
    if "EgoSpeed" in params:
        ego = float(params["EgoSpeed"])
        mapped.setdefault("scenario", "cut_in")
        mapped["ego_speed"] = ego
        mapped["target_speed"] = ego * float(params.get("TargetSpeedFactor", 1.0))
        headway = float(params.get("HeadwayTime_LaneChange", 1.0))
        mapped["initial_gap"] = max(2.0, headway * ego / 3.6)
    return mapped


def drive_path(uri: str) -> Path:
    """The local path of a recorded drive, given as a path or a ``file://`` URI."""
    return Path(unquote(urlparse(uri).path)) if "://" in uri else Path(uri)


def case_table(case: dict) -> pa.Table:
    """The track table of one case: simulated from its parameters or read from the lake."""
    return case_tables([case])[0]


def case_tables(cases: list[dict]) -> list[pa.Table]:
    """Track tables for ``cases``, their ``case_id`` column set to each case's id.

    Simulated cases are generated one by one. Drive cases are grouped by file so each Parquet
    file is read once: a drive case either names one test case inside the file (``source
    ["case"]``, the file's own ``case_id``) or, without it, is the whole file.
    """
    import pyarrow.compute as pc

    tables, by_file = [], {}
    for case in cases:
        source = case.get("source") or {"kind": "simulate", "seed": 0}
        if source["kind"] == "simulate":
            params = generator_params(case.get("scenario", ""), case.get("params", {}))
            tables.append(
                lake.generate_drive(case["case_id"], params, seed=int(source.get("seed", 0)))
            )
        elif source["kind"] == "drive":
            by_file.setdefault(source["uri"], []).append(case)
        else:
            raise ExecutorError(f"unknown case source {source['kind']!r}")
    for uri, group in by_file.items():
        windows = [c for c in group if c["source"].get("span") is not None]
        if windows:
            tables.extend(_windows(uri, windows))
            group = [c for c in group if c not in windows]
            if not group:
                continue
        whole = [c for c in group if c["source"].get("case") is None]
        if whole:
            table = lake.read_tracks(drive_path(uri))
        else:
            wanted = [str(c["source"]["case"]) for c in group]
            table = lake.read_cases(drive_path(uri), wanted)
        column = table.schema.get_field_index("case_id")
        for case in whole:
            ids = pa.array([case["case_id"]] * table.num_rows, pa.string())
            tables.append(table.set_column(column, "case_id", ids))
        named = {str(c["source"]["case"]): c["case_id"] for c in group if c not in whole}
        if named:
            keys = pa.array(list(named), pa.string())
            original = pc.cast(table["case_id"], pa.string())
            subset = table.filter(pc.is_in(original, value_set=keys))
            positions = pc.index_in(pc.cast(subset["case_id"], pa.string()), value_set=keys)
            ids = pc.take(pa.array(list(named.values()), pa.string()), positions)
            tables.append(subset.set_column(column, "case_id", ids))
    return tables


def _windows(uri: str, cases: list[dict]) -> list[pa.Table]:
    """Track tables of cases that replay a time span of a recording (a mined event): the rows
    of the file's case ``source["case"]`` with ``t`` inside ``source["span"]``, the object
    ``source["ego"]`` (when given) made the ego."""
    import pyarrow.compute as pc

    table = lake.read_cases(drive_path(uri), sorted({str(c["source"]["case"]) for c in cases}))
    original = pc.cast(table["case_id"], pa.string())
    out = []
    for case in cases:
        source = case["source"]
        start, end = (float(v) for v in source["span"])
        rows = table.filter(
            pc.and_(
                pc.equal(original, str(source["case"])),
                pc.and_(pc.greater_equal(table["t"], start), pc.less_equal(table["t"], end)),
            )
        )
        if rows.num_rows == 0:
            raise ExecutorError(
                f"case {case['case_id']}: no rows of {source['case']} between {start:g} and "
                f"{end:g} s in the recording"
            )
        if source.get("ego") is not None:
            ego = pc.equal(rows["object_id"], pa.scalar(int(source["ego"]), pa.int32()))
            rows = rows.set_column(rows.schema.get_field_index("is_ego"), "is_ego", ego)
        ids = pa.array([case["case_id"]] * rows.num_rows, pa.string())
        out.append(rows.set_column(rows.schema.get_field_index("case_id"), "case_id", ids))
    return out
