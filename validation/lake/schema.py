"""The track schema: one row per object per time step (see :mod:`validation.lake`).

:func:`validate_table` checks a table against :data:`TRACK_SCHEMA`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa


class LakeError(ValueError):
    """Track data that cannot be read, converted or generated, with the reason."""


def _field(name: str, typ: pa.DataType, unit: str, description: str) -> pa.Field:
    meta = {"description": description}
    if unit:
        meta["unit"] = unit
    return pa.field(name, typ, nullable=False, metadata=meta)


#: Parquet / Arrow schema of object tracks (one row per object per time step).
TRACK_SCHEMA = pa.schema(
    [
        _field("drive_id", pa.string(), "", "recording or simulation run"),
        _field("case_id", pa.string(), "", "test case / scenario instance"),
        _field("t", pa.float64(), "s", "time since the start of the case"),
        _field("object_id", pa.int32(), "", "object identifier, unique within a case"),
        _field("is_ego", pa.bool_(), "", "vehicle under test"),
        _field("x", pa.float64(), "m", "centre position, along the lane for generated drives"),
        _field("y", pa.float64(), "m", "centre position, to the left for generated drives"),
        _field("vx", pa.float64(), "m/s", "velocity, x component"),
        _field("vy", pa.float64(), "m/s", "velocity, y component"),
        _field("ax", pa.float64(), "m/s2", "acceleration, x component"),
        _field("ay", pa.float64(), "m/s2", "acceleration, y component"),
        _field("length", pa.float64(), "m", "bounding box length"),
        _field("width", pa.float64(), "m", "bounding box width"),
        _field("lane_id", pa.int32(), "", "lane of the centre point, -1 off the lane network"),
        _field("lane_offset", pa.float64(), "m", "lateral offset from lane centre, left +"),
        _field("lane_width", pa.float64(), "m", "lane width at the position"),
    ],
    metadata={"safecase.schema": "object-tracks/1"},
)

_STRING_COLUMNS = {"drive_id", "case_id"}


def _type_ok(name: str, actual: pa.DataType, expected: pa.DataType) -> bool:
    if actual == expected:
        return True
    if name in _STRING_COLUMNS:
        if pa.types.is_large_string(actual):
            return True
        if pa.types.is_dictionary(actual) and (
            pa.types.is_string(actual.value_type) or pa.types.is_large_string(actual.value_type)
        ):
            return True
    return False


def validate_table(table: Any) -> pa.Table:
    """Check a track table against :data:`TRACK_SCHEMA`; return it unchanged.

    Raises :class:`LakeError` when it is not an Arrow table, has no rows, lacks columns, holds a
    column of another type (string columns may also be large_string or dictionary-encoded) or
    has nulls in a schema column. Extra columns are allowed.
    """
    if not isinstance(table, pa.Table):
        raise LakeError(f"expected a pyarrow.Table, got {type(table).__name__}")
    missing = [f.name for f in TRACK_SCHEMA if f.name not in table.column_names]
    if missing:
        raise LakeError(f"track table lacks column(s): {', '.join(missing)}")
    wrong = []
    for f in TRACK_SCHEMA:
        actual = table.schema.field(f.name).type
        if not _type_ok(f.name, actual, f.type):
            wrong.append(f"{f.name} is {actual}, expected {f.type}")
    if wrong:
        raise LakeError("track table has wrong column type(s): " + "; ".join(wrong))
    if table.num_rows == 0:
        raise LakeError("track table is empty (0 rows)")
    nulls = [f.name for f in TRACK_SCHEMA if table.column(f.name).null_count]
    if nulls:
        raise LakeError(f"track table has nulls in: {', '.join(nulls)}")
    return table
