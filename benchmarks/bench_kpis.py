"""KPI throughput over synthetic track rows: the local numpy path against Spark in local mode.

A pool of 200 generated AEB cases (``lake.generate_lake``, two background vehicles each) is
replicated with new case ids to ``BENCH_KPI_ROWS`` rows (default 10,000,000), written once as
Parquet files of about 1,000,000 rows under the benchmark scratch folder, in the lake layout
(grouped by case, time-ordered).

Figures: ``kpis.case_kpis`` on the in-memory Arrow table (target >= 2,000,000 rows/s) and with
the Parquet read included (what the local executor does for recorded drives); the Spark
executor's job (``validation.execution.spark.spark_case_kpis``: Parquet read, shuffle,
``applyInPandas``, collect) at 1 M rows and at the full size after a warm-up job, grouped by
case (the default) and by buckets of whole cases, with the ratio to the local path and
time(10 M) / time(1 M) to show whether the cost grows linearly.
Session start is reported apart: a worker pays it once.
"""

from __future__ import annotations

import math
import os
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks._setup import report, scratch

N_ROWS = int(os.environ.get("BENCH_KPI_ROWS", 10_000_000))
FILE_ROWS = 1_000_000
POOL_CASES = 200


def build(folder, n_rows: int) -> list:
    """Write ``n_rows`` (rounded up to whole cases) as Parquet files; return their paths."""
    from validation import lake

    lake.generate_lake(folder / "pool", POOL_CASES, seed=7)
    pool = lake.read_tracks(folder / "pool")
    encoded = pc.dictionary_encode(pool["case_id"]).combine_chunks()
    codes, names = encoded.indices, encoded.dictionary.to_pylist()
    copies_per_file = max(1, round(FILE_ROWS / pool.num_rows))
    copies = max(1, math.ceil(n_rows / pool.num_rows))
    paths = []
    for first in range(0, copies, copies_per_file):
        parts = []
        for copy in range(first, min(copies, first + copies_per_file)):
            ids = pa.array([f"{name}-r{copy:05d}" for name in names], pa.string())
            parts.append(pool.set_column(1, "case_id", pc.take(ids, codes)))
        path = folder / f"part-{len(paths):04d}.parquet"
        pq.write_table(pa.concat_tables(parts), path, compression="zstd")
        paths.append(path)
    return paths


def rows_in(paths) -> int:
    return sum(pq.read_metadata(p).num_rows for p in paths)


def best_of(repeats: int, fn) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    from validation import kpis
    from validation.execution import spark as vspark

    folder = scratch() / "kpis"
    started = time.perf_counter()
    paths = build(folder, N_ROWS)
    total = rows_in(paths)
    small = paths[:1]
    n_small = rows_in(small)
    print(
        f"  (wrote {total:,} rows in {len(paths)} Parquet files in "
        f"{time.perf_counter() - started:.0f} s)",
        flush=True,
    )

    # -- local: case_kpis on the Arrow table, and with the Parquet read ---------------------
    local = {}
    for label, subset, n in (("1 M", small, n_small), ("full", paths, total)):
        table = pa.concat_tables([pq.read_table(p) for p in subset])
        seconds, results = best_of(
            3 if n <= 2 * FILE_ROWS else 2, lambda t=table: kpis.case_kpis(t)
        )
        del table
        local[label] = seconds
        report(
            f"local case_kpis, {n:,} rows ({len(results):,} cases)",
            n / seconds,
            "rows/s",
            ">= 2,000,000 rows/s",
            f"{seconds:.2f} s",
        )
    read_s, _ = best_of(
        1, lambda: kpis.case_kpis(pa.concat_tables([pq.read_table(p) for p in paths]))
    )
    report(
        f"local with the Parquet read, {total:,} rows",
        total / read_s,
        "rows/s",
        reference=f"{read_s:.2f} s",
    )

    # -- Spark in local mode ----------------------------------------------------------------
    started = time.perf_counter()
    spark = vspark.get_spark()
    report("Spark session start", time.perf_counter() - started, "s", reference="paid once")
    warm, _ = best_of(1, lambda: vspark.spark_case_kpis(spark, folder / "pool"))
    print(f"  (warm-up job over the {POOL_CASES}-case pool: {warm:.1f} s)", flush=True)
    buckets = 4 * spark.sparkContext.defaultParallelism
    for mode, groups in (("one group per case", None), (f"{buckets} case buckets", buckets)):
        spark_s = {}
        for label, subset, n in (("1 M", small, n_small), ("full", paths, total)):
            seconds, results = best_of(
                1, lambda s=subset, g=groups: vspark.spark_case_kpis(spark, s, buckets=g)
            )
            spark_s[label] = seconds
            report(
                f"Spark, {mode}, {n:,} rows ({len(results):,} cases)",
                n / seconds,
                "rows/s",
                reference=f"{seconds:.1f} s, {seconds / local[label]:.0f}x the local time",
            )
        if len(paths) > 1:
            report(
                f"Spark, {mode}: time(full) / time(1 M)",
                spark_s["full"] / spark_s["1 M"],
                "x",
                reference=f"rows x{total / n_small:.1f}",
            )
    if len(paths) > 1:
        report(
            "local time(full) / time(1 M)",
            local["full"] / local["1 M"],
            "x",
            reference=f"rows x{total / n_small:.1f}",
        )
