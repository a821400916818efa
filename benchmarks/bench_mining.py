"""Event mining throughput (``validation.mining.mine``) over synthetic and real track rows.

A pool of 200 generated AEB cases (``lake.generate_lake``, two background vehicles each, so
every case has hard braking and many have a low TTC or a cut-in) is replicated with new case
ids to ``BENCH_MINING_ROWS`` rows (default 2,000,000) and mined as one drive: the ego's events
(a fleet drive) and every vehicle's (an infrastructure recording). The three real CommonRoad
recordings in ``../shared`` are mined too when present.

The issue sets no target for mining; the KPI engine's (>= 2,000,000 rows/s) is printed as the
reference, since mining reads the same rows.
"""

from __future__ import annotations

import math
import os
import time

import pyarrow as pa
import pyarrow.compute as pc

from benchmarks._setup import ROOT, report, scratch
from benchmarks.bench_kpis import best_of

N_ROWS = int(os.environ.get("BENCH_MINING_ROWS", 2_000_000))
POOL_CASES = 200
REFERENCE = "reference: the KPI engine's >= 2,000,000 rows/s"


def build(n_rows: int) -> pa.Table:
    from validation import lake

    folder = scratch() / "mining"
    lake.generate_lake(folder / "pool", POOL_CASES, seed=7)
    pool = lake.read_tracks(folder / "pool")
    encoded = pc.dictionary_encode(pool["case_id"]).combine_chunks()
    codes, names = encoded.indices, encoded.dictionary.to_pylist()
    parts = []
    for copy in range(max(1, math.ceil(n_rows / pool.num_rows))):
        ids = pa.array([f"{name}-r{copy:05d}" for name in names], pa.string())
        parts.append(pool.set_column(1, "case_id", pc.take(ids, codes)))
    return pa.concat_tables(parts)


def main() -> None:
    from validation import mining

    table = build(N_ROWS)
    n = table.num_rows
    for label, thresholds in (
        ("the ego's events", mining.Thresholds()),
        ("every vehicle's events", mining.Thresholds(all_vehicles=True)),
    ):
        seconds, events = best_of(2, lambda t=thresholds: mining.mine(table, "bench", t))
        report(
            f"mine {label}, {n:,} rows ({len(events):,} events)",
            n / seconds,
            "rows/s",
            reference=f"{seconds:.2f} s; {REFERENCE}",
        )
    folder = ROOT.parent / "shared" / "data" / "real" / "commonroad"
    if not folder.is_dir():
        print("  (../shared is absent: the real recordings are left out)", flush=True)
        return
    for path in sorted(folder.glob("*.xml")):
        data = path.read_bytes()
        started = time.perf_counter()
        drive = mining.read_drive(data, path.name)
        events = mining.mine(drive, path.name, mining.Thresholds(all_vehicles=True))
        seconds = time.perf_counter() - started
        report(
            f"{path.name}: convert and mine every vehicle ({drive.num_rows:,} rows, "
            f"{len(events)} events)",
            seconds * 1000,
            "ms",
        )
