"""The Spark executor: KPIs per test case computed by a Spark job over Parquet track files.

One SparkSession per process, created on first use by :func:`get_spark` and shared by every
:class:`SparkExecutor` (starting a session takes seconds; tests start exactly one per run).

Settings (``config/settings.py``, from the environment):

- ``SPARK_MASTER``: the master URL, default ``local[*]`` (every core of this machine).
- ``SAFECASE_SPARK_SHUFFLE_PARTITIONS``: ``spark.sql.shuffle.partitions``, default 4. Spark's
  default of 200 makes every small shard pay for 200 near-empty tasks.
- ``SAFECASE_SPARK_S3A``: ``1`` adds the ``s3a://`` settings below, for clusters whose Spark
  ships ``hadoop-aws`` (EMR, Databricks). Without it (and always on a plain ``pip install
  pyspark``, which has no ``hadoop-aws``) only local files can be read: read S3 with boto3 or
  pyarrow and hand Spark local files or Arrow tables. The ``s3a`` endpoint is boto3's
  (``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL``), with path-style access.
- ``SAFECASE_SPARK_BUCKETS``: the cases are hashed into this many ``applyInPandas`` groups of
  whole cases (default 16), each computed in one vectorised call; ``0`` gives every case its
  own group instead, which costs Spark a few milliseconds per case (see :func:`kpi_frame`).
- ``PYSPARK_PYTHON``: the Python of the workers; :func:`get_spark` sets it to this
  interpreter when unset (so the workers find numpy and pyarrow), and puts this checkout on
  the workers' ``PYTHONPATH``. On a cluster, install the project on the executors.

The session runs without the web UI (``spark.ui.enabled=false``), binds the driver to
127.0.0.1 and turns Arrow on for pandas conversion. Spark needs Java 17: without a ``java``
on ``PATH`` or under ``JAVA_HOME`` :func:`get_spark` raises :class:`ExecutorError` saying so.

The KPIs themselves are :func:`validation.kpis.case_kpis`, run per case inside
``groupBy("case_id").applyInPandas`` (or per bucket of whole cases); the travelled distance and
the exposure KPIs come from the same :mod:`validation.kpis` functions the local executor uses,
so both executors give the same numbers for the same cases. Errors (Java missing, empty or
corrupt Parquet, a failed job) surface as :class:`ExecutorError` with the reason.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from validation import kpis, lake
from validation.execution.base import ExecutorError
from validation.execution.cases import case_table

__all__ = [
    "KPI_FIELDS",
    "SparkExecutor",
    "get_spark",
    "kpi_frame",
    "read_track_frame",
    "spark_case_kpis",
    "stop_spark",
]

#: Track columns the Spark job reads (the KPI columns plus ``object_id`` to order rows).
READ_COLUMNS = (
    ("case_id", "string"),
    ("t", "double"),
    ("object_id", "int"),
    ("is_ego", "boolean"),
    ("x", "double"),
    ("y", "double"),
    ("vx", "double"),
    ("vy", "double"),
    ("ax", "double"),
    ("ay", "double"),
    ("length", "double"),
    ("width", "double"),
    ("lane_id", "int"),
)

#: Output columns of the KPI job: ``case_kpis``' keys in its order, then the ego's travelled
#: distance. Doubles are nullable: ``None`` stands for "never" where ``case_kpis`` says so.
KPI_FIELDS = (
    ("case_id", "string"),
    ("min_ttc", "double"),
    ("min_distance", "double"),
    ("min_thw", "double"),
    ("max_drac", "double"),
    ("max_deceleration", "double"),
    ("max_jerk", "double"),
    ("tet", "double"),
    ("tit", "double"),
    ("first_brake_time", "double"),
    ("collision", "boolean"),
    ("collision_time", "double"),
    ("impact_speed", "double"),
    ("steps", "long"),
    ("start", "double"),
    ("end", "double"),
    ("distance_km", "double"),
)

_session = None
_session_lock = threading.Lock()


# --------------------------------------------------------------------------------------------
# Session
# --------------------------------------------------------------------------------------------


def _require_java() -> str:
    """Path of the ``java`` Spark will start; :class:`ExecutorError` when there is none."""
    # JAVA_HOME is the launcher's own variable, not a setting: check what spark-submit will see.
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found:
        return found
    where = f"JAVA_HOME={java_home} has no bin/java and " if java_home else ""
    raise ExecutorError(
        f"the Spark executor needs Java 17, but {where}no 'java' is on PATH: install a JDK "
        "(for example the openjdk-17-jre-headless package) or set JAVA_HOME to one"
    )


def _s3a_conf() -> dict[str, str]:
    """``s3a://`` settings for clusters that provide ``hadoop-aws`` (off unless asked for)."""
    if not settings.SAFECASE_SPARK_S3A:
        return {}
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
        ),
    }
    endpoint = settings.SAFECASE_SPARK_S3A_ENDPOINT
    if endpoint:  # an S3-compatible store: path-style addressing
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
    return conf


def spark_conf() -> dict[str, str]:
    """The settings :func:`get_spark` starts its session with."""
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(settings.SAFECASE_SPARK_SHUFFLE_PARTITIONS),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
    }
    # Local workers import validation.*: put this checkout on their path.
    root = str(Path(__file__).resolve().parents[2])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    conf["spark.executorEnv.PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    conf.update(_s3a_conf())
    return conf


def get_spark():
    """The process's SparkSession, created on first call (master from ``SPARK_MASTER``)."""
    global _session
    with _session_lock:
        if _session is not None and _session.sparkContext._jsc is not None:
            return _session
        _require_java()
        # PySpark starts its workers with $PYSPARK_PYTHON (default "python3", which may lack
        # numpy and pyarrow): default it to this interpreter.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:  # pragma: no cover - pyspark is a dependency
            raise ExecutorError("the Spark executor needs the pyspark package") from exc
        builder = SparkSession.builder.master(settings.SPARK_MASTER)
        builder = builder.appName("safecase")
        for key, value in spark_conf().items():
            builder = builder.config(key, value)
        try:
            _session = builder.getOrCreate()
        except Exception as exc:  # the JVM did not start: say why, not a Py4J trace
            raise ExecutorError(
                f"could not start Spark (it needs Java 17; check JAVA_HOME): {_short(exc)}"
            ) from exc
        _session.sparkContext.setLogLevel("ERROR")
        # py4j logs every connection it closes at INFO, late in interpreter shutdown
        if logging.getLogger("py4j").level == logging.NOTSET:
            logging.getLogger("py4j").setLevel(logging.WARNING)
        return _session


def stop_spark() -> None:
    """Stop the process's session (the next :func:`get_spark` starts a new one)."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.stop()
            _session = None


# --------------------------------------------------------------------------------------------
# Reading tracks
# --------------------------------------------------------------------------------------------


def _short(exc: BaseException, limit: int = 600) -> str:
    """The first meaningful line of an exception (Spark's carry a JVM stack trace)."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # a Python error raised in a worker: its last line names it
    worker = [line for line in lines if "Error:" in line and not line.startswith("at ")]
    first = worker[-1] if worker else lines[0]
    return first[:limit]


def _local_path(uri: str | Path) -> Path | None:
    """The local file-system path of ``uri`` (a path or ``file:`` URI); ``None`` otherwise."""
    if isinstance(uri, Path):
        return uri.resolve()
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri).resolve()
    return None


def _parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a track path (a file, or every ``*.parquet`` below a folder)."""
    if not path.exists():
        raise ExecutorError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise ExecutorError(f"{path}: folder holds no .parquet files")
        return files
    return [path]


def _check_parquet(path: Path) -> None:
    """Read a file's Parquet footer only: refuse empty, corrupt and non-track files early."""
    if path.stat().st_size == 0:
        raise ExecutorError(f"{path}: empty file (0 bytes), not Parquet")
    try:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        raise ExecutorError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [name for name, _ in READ_COLUMNS if name not in schema.names]
    if missing:
        raise ExecutorError(f"{path}: not a track file, lacks column(s) {', '.join(missing)}")
    if meta.num_rows == 0:
        raise ExecutorError(f"{path}: Parquet file holds no rows")


def _schema():
    from pyspark.sql import types as T

    kinds = {
        "string": T.StringType(),
        "double": T.DoubleType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "boolean": T.BooleanType(),
    }
    read = T.StructType([T.StructField(n, kinds[k], True) for n, k in READ_COLUMNS])
    out = T.StructType([T.StructField(n, kinds[k], n != "case_id") for n, k in KPI_FIELDS])
    return read, out


def _read(spark, paths: list[str]):
    read_schema, _ = _schema()
    reader = spark.read.schema(read_schema)
    if any(_local_path(p) is None for p in paths):  # folders on a cluster store
        reader = reader.option("recursiveFileLookup", "true").option("pathGlobFilter", "*.parquet")
    return reader.parquet(*paths)


def _resolve(paths: Iterable[str | Path]) -> tuple[list[str], dict[str, list[Path]]]:
    """Spark paths for ``paths`` (local folders listed, every local file's footer checked)."""
    spark_paths: list[str] = []
    files_of: dict[str, list[Path]] = {}
    for item in paths:
        local = _local_path(item)
        if local is None:
            spark_paths.append(str(item))
            continue
        files = _parquet_files(local)
        for f in files:
            _check_parquet(f)
        files_of[str(item)] = files
        spark_paths.extend(str(f) for f in files)
    return list(dict.fromkeys(spark_paths)), files_of


def read_track_frame(spark, paths: str | Path | Iterable[str | Path]):
    """A DataFrame of the track columns the KPIs need, from Parquet files or folders.

    Local paths are checked first (footers only): an empty, corrupt or non-track file raises
    :class:`ExecutorError` naming it. Other URIs (``s3a://`` on a cluster) go to Spark as they
    are, folders read recursively.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    spark_paths, _ = _resolve(paths)
    if not spark_paths:
        raise ExecutorError("no track files to read")
    return _read(spark, spark_paths)


def _file_key(name: str) -> str:
    """One spelling for a file URI as Spark writes it: ``file:/x`` and ``file:///x`` agree."""
    return re.sub(r"^file:/+", "file:///", name)


def _drive_frame(spark, drives: list[tuple[str, str]]):
    """Rows of recorded drives, relabelled with the case ids that use them.

    ``drives`` is ``[(case_id, uri)]``. Every distinct file is read once; a small table maps
    each file to the cases that use it and is joined on the file's path (``_metadata``), so
    one recording can serve several cases and the plan does not grow with the case count.
    Spark spells a local file ``file:///x`` in ``inputFiles()`` but ``file:/x`` in the file
    metadata: both sides are brought to the first form.
    """
    from pyspark.sql import functions as F

    spark_paths, files_of = _resolve(uri for _, uri in drives)
    frame = _read(spark, spark_paths)
    spark_name = {}
    for name in frame.inputFiles():
        local = _local_path(name)
        spark_name[str(local) if local is not None else name] = _file_key(name)
    pairs = []
    for case_id, uri in drives:
        if uri in files_of:
            pairs.extend(
                (spark_name[str(f)], case_id) for f in files_of[uri] if str(f) in spark_name
            )
        else:
            prefix = _file_key(uri.rstrip("/"))
            pairs.extend(
                (name, case_id)
                for name in spark_name.values()
                if name == prefix or name.startswith(prefix + "/")
            )
    mapping = spark.createDataFrame(sorted(set(pairs)), "_file string, _case string")
    key = F.regexp_replace(F.col("_metadata.file_path"), "^file:/+", "file:///")
    joined = frame.withColumn("_file", key).join(F.broadcast(mapping), on="_file")
    return joined.select(
        F.col("_case").alias("case_id"), *(n for n, _ in READ_COLUMNS if n != "case_id")
    )


# --------------------------------------------------------------------------------------------
# KPIs
# --------------------------------------------------------------------------------------------


def _group_kpis(kpi_fn: Callable[[pa.Table], dict] | None = None, many: bool = False):
    """The function applyInPandas runs on each group's rows (pickled to the workers).

    A group is one case, or with ``many`` a bucket of whole cases. Rows are put back in the
    lake's order first (by case, time, then object), which a shuffle does not keep.
    """
    columns = [name for name, _ in KPI_FIELDS]
    doubles = {name for name, kind in KPI_FIELDS if kind == "double"}
    order = [("case_id", "ascending")] if many else []
    order += [("t", "ascending"), ("object_id", "ascending")]

    def run(pdf):
        import pandas as pd

        table = pa.Table.from_pandas(pdf, preserve_index=False).sort_by(order)
        results = (kpi_fn or kpis.case_kpis)(table)
        travelled = kpis.ego_distance_km(table)
        data: dict[str, list] = {name: [] for name in columns}
        for case_id, values in results.items():
            data["case_id"].append(str(case_id))
            for key, value in values.items():
                data[key].append(value)
            data["distance_km"].append(travelled.get(str(case_id), 0.0))
        return pd.DataFrame(
            {
                name: pd.array(data[name], dtype="float64") if name in doubles else data[name]
                for name in columns
            },
            columns=columns,
        ).astype({"steps": "int64", "collision": "bool"})

    return run


def kpi_frame(tracks, kpi_fn: Callable[[pa.Table], dict] | None = None, buckets: int | None = None):
    """KPIs per case as a DataFrame: ``case_id``, the KPI columns and ``distance_km``.

    ``tracks`` is a DataFrame in the track schema (at least :data:`READ_COLUMNS`). By default
    one ``applyInPandas`` group per case (``groupBy("case_id")``). Spark's cost per group is a
    few milliseconds, far more than ``case_kpis`` needs for one case: with ``buckets`` the
    cases are hashed into that many groups of whole cases instead, each computed in one
    vectorised ``case_kpis`` call; the results are the same. ``kpi_fn`` replaces
    :func:`validation.kpis.case_kpis` (for tests; it must be picklable).
    """
    from pyspark.sql import functions as F

    _, out_schema = _schema()
    if buckets:
        bucket = F.pmod(F.xxhash64("case_id"), F.lit(int(buckets)))
        grouped = tracks.withColumn("_bucket", bucket).groupBy("_bucket")
        return grouped.applyInPandas(_group_kpis(kpi_fn, many=True), schema=out_schema)
    return tracks.groupBy("case_id").applyInPandas(_group_kpis(kpi_fn), schema=out_schema)


def _finish(rows: list[dict], order: list[str] | None = None) -> dict[str, dict]:
    """The KPI rows as the local executor returns them (plain values plus exposure KPIs)."""
    by_id = {}
    for row in rows:
        case_id = row.pop("case_id")
        distance = row.pop("distance_km") or 0.0
        by_id[case_id] = kpis.case_record(row, distance)
    if order is None:
        return dict(sorted(by_id.items()))
    return {cid: by_id[cid] for cid in dict.fromkeys(order) if cid in by_id}


def _collect(frame, order: list[str] | None = None) -> dict[str, dict]:
    try:
        rows = frame.toArrow().to_pylist()
    except Exception as exc:
        raise ExecutorError(f"the Spark KPI job failed: {_short(exc)}") from exc
    return _finish(rows, order)


def spark_case_kpis(
    spark,
    paths_or_table: Any,
    kpi_fn: Callable[[pa.Table], dict] | None = None,
    buckets: int | None = None,
) -> dict[str, dict]:
    """KPIs per case id, computed by Spark, equal to :func:`validation.execution.local.compute`.

    ``paths_or_table``: a Parquet file or folder, a list of them, or a ``pyarrow.Table`` in
    the track schema. Returns ``{case_id: kpis}`` in case id order, with the same values
    (``"inf"`` for "never", ``None`` for undefined) and exposure KPIs as the local executor.
    """
    if isinstance(paths_or_table, pa.Table):
        if paths_or_table.num_rows == 0:
            raise ExecutorError("the track table has no rows")
        missing = [n for n, _ in READ_COLUMNS if n not in paths_or_table.column_names]
        if missing:
            raise ExecutorError(f"the track table lacks column(s) {', '.join(missing)}")
        frame = spark.createDataFrame(paths_or_table.select([n for n, _ in READ_COLUMNS]))
    else:
        frame = read_track_frame(spark, paths_or_table)
    return _collect(kpi_frame(frame, kpi_fn, buckets))


# --------------------------------------------------------------------------------------------
# Executor
# --------------------------------------------------------------------------------------------


def _var_dir() -> Path | None:
    """``settings.VAR_DIR`` when Django is set up, else None."""
    return Path(settings.VAR_DIR) if settings.configured else None


class SparkExecutor:
    """Runs a shard as one Spark job; ``submit`` waits for it (local mode and small shards).

    Simulated cases are written as one Parquet file under
    ``<var>/spark/<run>/<shard>/`` (removed when the job ends); recorded drive cases are read
    from their own Parquet URIs. ``cancel`` from another thread cancels the running job's
    group (the handle); the shard then polls ``cancelled``.
    """

    name = "spark"

    def __init__(
        self,
        spark=None,
        scratch_dir: str | Path | None = None,
        kpi_fn: Callable[[pa.Table], dict] | None = None,
        buckets: int | None = None,
    ) -> None:
        self._spark = spark
        if buckets is None:
            buckets = settings.SAFECASE_SPARK_BUCKETS
        self._buckets = buckets or None
        self._scratch = Path(scratch_dir) if scratch_dir else None
        self._kpi_fn = kpi_fn
        self._lock = threading.Lock()
        self._states: dict[str, str] = {}
        self._results: dict[str, dict[str, dict]] = {}
        self._errors: dict[str, str] = {}
        #: handle of the job running now (set before it starts, so another thread can cancel)
        self.running: str | None = None

    # -- the four verbs -------------------------------------------------------------------

    def submit(self, run_id: int, shard: int, cases: list[dict]) -> str:
        handle = f"spark-{run_id}-{shard}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            self._states[handle] = "running"
        if not cases:
            self._finish(handle, "succeeded", {})
            return handle
        spark = self._spark or get_spark()
        sc = spark.sparkContext
        folder = self._scratch_folder(run_id, shard)
        self.running = handle
        sc.setJobGroup(handle, f"safecase run {run_id} shard {shard}", interruptOnCancel=True)
        try:
            results = self._run(spark, handle, cases, folder)
        except Exception as exc:
            if self.poll(handle) == "cancelled":
                return handle
            message = str(exc) if isinstance(exc, ExecutorError) else _short(exc)
            self._finish(handle, "failed", None, message)
            if isinstance(exc, ExecutorError):
                raise
            raise ExecutorError(f"the Spark KPI job failed: {message}") from exc
        finally:
            self.running = None
            for key in (
                "spark.jobGroup.id",
                "spark.job.description",
                "spark.job.interruptOnCancel",
            ):
                sc.setLocalProperty(key, None)
            shutil.rmtree(folder, ignore_errors=True)
            _remove_empty_parents(folder, stop=self._scratch_root())
        if self.poll(handle) != "cancelled":
            self._finish(handle, "succeeded", results)
        return handle

    def poll(self, handle: str) -> str:
        with self._lock:
            return self._states.get(handle, "failed")

    def collect(self, handle: str) -> dict[str, dict]:
        with self._lock:
            state = self._states.get(handle)
            if state == "succeeded" and handle in self._results:
                return self._results.pop(handle)
            reason = self._errors.get(handle, "")
        if state is None:
            raise ExecutorError(f"unknown Spark handle {handle!r}")
        detail = f": {reason}" if reason else ""
        raise ExecutorError(f"Spark job {handle} has no results ({state}{detail})")

    def cancel(self, handle: str) -> None:
        with self._lock:
            was = self._states.get(handle)
            self._states[handle] = "cancelled"
            self._results.pop(handle, None)
        spark = self._spark or _session
        if was == "running" and spark is not None:
            spark.sparkContext.cancelJobGroup(handle)

    def failure_reason(self, handle: str) -> str | None:
        """Why the job failed, if it did."""
        return self._errors.get(handle)

    # -- internals ------------------------------------------------------------------------

    def _finish(self, handle: str, state: str, results, error: str = "") -> None:
        with self._lock:
            self._states[handle] = state
            if results is not None:
                self._results[handle] = results
            if error:
                self._errors[handle] = error

    def _scratch_root(self) -> Path:
        if self._scratch is not None:
            return self._scratch
        var = _var_dir()
        return var / "spark" if var else Path(tempfile.gettempdir()) / "safecase-spark"

    def _scratch_folder(self, run_id: int, shard: int) -> Path:
        root = self._scratch_root() / str(run_id) / str(shard)
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="job-", dir=root))

    def _run(self, spark, handle: str, cases: list[dict], folder: Path) -> dict[str, dict]:
        simulated, drives = [], []
        for case in cases:
            source = case.get("source") or {"kind": "simulate", "seed": 0}
            if source.get("kind") == "drive":
                drives.append((case["case_id"], str(source["uri"])))
            elif source.get("kind") == "simulate":
                simulated.append(case)
            else:
                raise ExecutorError(f"unknown case source {source.get('kind')!r}")
        frames = []
        if simulated:
            try:
                table = pa.concat_tables(
                    [case_table(c) for c in simulated], promote_options="default"
                )
                path = lake.write_tracks(table, folder / "simulated.parquet")
            except (lake.LakeError, OSError, ValueError) as exc:
                raise ExecutorError(str(exc)) from exc
            frames.append(read_track_frame(spark, path))
        if drives:
            frames.append(_drive_frame(spark, drives))
        tracks = frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])
        frame = kpi_frame(tracks, self._kpi_fn, self._buckets)
        return _collect(frame, [c["case_id"] for c in cases])


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    """Remove ``folder``'s now empty parents up to (not including) ``stop``."""
    for parent in folder.parents:
        if parent == stop or stop not in parent.parents:
            break
        try:
            parent.rmdir()
        except OSError:
            break
