"""Object tracks in the data lake: the Parquet schema, readers, a drive generator and converters.

Pure Python (pyarrow, numpy, lxml); no Django.

Modules: ``schema`` (the track schema and its check), ``parquet`` (reading and writing track
files), ``aeb`` (the AEB model and the generated lake) and ``commonroad`` (the CommonRoad
converter). This package re-exports the names the other modules of the project use.

Track schema
============

One row per object per time step. Coordinates are in a right-handed road frame: for generated
drives ``x`` runs along the lane and ``y`` to the left; CommonRoad recordings keep the file's
map frame. Columns (see :data:`TRACK_SCHEMA`, the field metadata carries the same text):

=============  =========  ====  ==========================================================
column         type       unit  meaning
=============  =========  ====  ==========================================================
drive_id       string           the recording or simulation run the row comes from
case_id        string           the test case (scenario instance) the row belongs to
t              float64    s     time since the start of the case
object_id      int32            object identifier, unique within a case
is_ego         bool             true for the vehicle under test (one per case and time step)
x, y           float64    m     position of the object's centre
vx, vy         float64    m/s   velocity
ax, ay         float64    m/s²  acceleration
length, width  float64    m     bounding box
lane_id        int32            lane the centre lies in (-1: off the lane network)
lane_offset    float64    m     signed lateral offset from the lane centre, positive to the left
lane_width     float64    m     lane width at the object's position
=============  =========  ====  ==========================================================

Lake layout written by :func:`generate_lake`: ``<folder>/drive=<drive_id>/part-0.parquet``, one
file per drive, rows ordered by case, time and object, plus ``manifest.json`` listing every case
with its parameters and seed. Rows of a case are contiguous and time-ordered, the order
``validation.kpis.case_kpis`` reads fastest.
"""

from validation.lake.aeb import (
    AEB_SCENARIOS,
    PARAM_KEYS,
    generate_drive,
    generate_lake,
    random_case_params,
)
from validation.lake.commonroad import Conversion, commonroad_to_table, convert_commonroad
from validation.lake.parquet import read_cases, read_tracks, write_tracks
from validation.lake.schema import TRACK_SCHEMA, LakeError, validate_table

__all__ = [
    "AEB_SCENARIOS",
    "LakeError",
    "PARAM_KEYS",
    "TRACK_SCHEMA",
    "Conversion",
    "commonroad_to_table",
    "convert_commonroad",
    "generate_drive",
    "generate_lake",
    "random_case_params",
    "read_cases",
    "read_tracks",
    "validate_table",
    "write_tracks",
]
