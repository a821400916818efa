"""Track files: write a validated table as Parquet, read files or folders of them back."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from validation.lake.schema import TRACK_SCHEMA, LakeError, validate_table


def write_tracks(table: pa.Table, path: str | Path) -> Path:
    """Validate ``table`` and write it as one Parquet file (zstd); same table, same bytes."""
    validate_table(table)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.select(TRACK_SCHEMA.names), path, compression="zstd")
    return path


def _read_one(path: Path, case_ids: list[str] | None = None) -> pa.Table:
    try:
        if path.stat().st_size == 0:
            raise LakeError(f"{path}: empty file, not Parquet")
        # Only the rows of the wanted cases: row-group statistics let Parquet skip the rest.
        filters = [("case_id", "in", list(case_ids))] if case_ids else None
        table = pq.read_table(path, partitioning=None, filters=filters)
    except LakeError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise LakeError(f"{path}: not a readable Parquet file ({exc})") from exc
    try:
        validate_table(table)
    except LakeError as exc:
        raise LakeError(f"{path}: {exc}") from exc
    return table.select(TRACK_SCHEMA.names)


def read_cases(path: str | Path, case_ids: list[str]) -> pa.Table:
    """The rows of some test cases of one track file (validated like :func:`read_tracks`)."""
    path = Path(path)
    if not path.is_file():
        raise LakeError(f"{path}: no such file")
    return _read_one(path, case_ids)


def read_tracks(path: str | Path) -> pa.Table:
    """Read a track Parquet file, or every ``*.parquet`` below a folder (sorted by path).

    Returns only the schema columns, validated. Raises :class:`LakeError` for a missing path, a
    folder without Parquet files, and empty, corrupt or non-conforming files (naming the file).
    """
    path = Path(path)
    if not path.exists():
        raise LakeError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise LakeError(f"{path}: folder holds no .parquet files")
        tables = [_read_one(p) for p in files]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except pa.ArrowException as exc:
            raise LakeError(f"{path}: files do not share one schema ({exc})") from exc
    return _read_one(path)
