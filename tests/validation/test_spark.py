"""The Spark executor against the local one: same cases, same KPIs; bad input, clear errors.

Every Spark test shares the one session of the ``spark`` fixture (tests/validation/conftest.py).
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.shared_data import shared_path
from validation import lake
from validation.execution import registry
from validation.execution import spark as vspark
from validation.execution.base import ExecutorError
from validation.execution.cases import case_table
from validation.execution.local import compute
from validation.execution.spark import SparkExecutor, spark_case_kpis

COMMONROAD = (
    "commonroad-io__USA_US101-4_1_T-1.xml",
    "commonroad-io__USA_US101-3_3_T-1.xml",
    "commonroad-io__USA_Peach-4_8_T-1.xml",
)


def assert_same_kpis(got: dict, want: dict) -> None:
    """Same case ids and KPI names; floats within 1e-9 relative; everything else identical
    (``None``, ``"inf"``, booleans and counts, with their types)."""
    assert sorted(got) == sorted(want)
    for case_id, expected in want.items():
        actual = got[case_id]
        assert list(actual) == list(expected), case_id
        for key, value in expected.items():
            other = actual[key]
            where = f"{case_id} {key}: spark {other!r}, local {value!r}"
            assert type(other) is type(value), where
            if isinstance(value, float):
                assert math.isclose(other, value, rel_tol=1e-9, abs_tol=1e-12), where
            else:
                assert other == value, where


def write_cases(cases: list[dict], folder: Path, parts: int = 2) -> list[Path]:
    """The cases' track tables as ``parts`` Parquet files (cases split between them)."""
    tables = [case_table(c) for c in cases]
    paths = []
    for part in range(parts):
        chunk = tables[part::parts]
        paths.append(lake.write_tracks(pa.concat_tables(chunk), folder / f"part-{part}.parquet"))
    return paths


# --- session --------------------------------------------------------------------------------


@pytest.mark.spark
def test_one_session_with_the_local_settings(spark):
    assert vspark.get_spark() is spark
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.ui.enabled") == "false"
    assert conf.get("spark.sql.shuffle.partitions") == "4"
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert conf.get("spark.app.name") == "safecase"


def test_missing_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(ExecutorError, match="needs Java 17") as err:
        vspark._require_java()
    assert "JAVA_HOME" in str(err.value) and "install a JDK" in str(err.value)
    monkeypatch.setattr(vspark, "_session", None)  # restored after the test
    with pytest.raises(ExecutorError, match="needs Java 17"):
        vspark.get_spark()


def test_executor_is_registered_and_an_empty_shard_needs_no_spark(monkeypatch):
    def no_spark():
        raise AssertionError("an empty shard must not start Spark")

    monkeypatch.setattr(vspark, "get_spark", no_spark)
    executor = registry.get_executor("spark")
    assert isinstance(executor, SparkExecutor)
    handle = executor.submit(1, 0, [])
    assert executor.poll(handle) == "succeeded"
    assert executor.collect(handle) == {}
    assert executor.poll("spark-no-such-handle") == "failed"
    with pytest.raises(ExecutorError, match="unknown"):
        executor.collect("spark-no-such-handle")


# --- equality with the local executor -------------------------------------------------------


@pytest.mark.spark
def test_parquet_files_give_the_local_kpis(spark, sim_cases, tmp_path):
    local = compute(sim_cases)
    # the cases cover what the comparison must get right: collisions, "never", missing values
    assert any(v["collision"] for v in local.values())
    assert not all(v["collision"] for v in local.values())
    assert any(v["min_ttc"] == "inf" for v in local.values())
    assert any(v["first_brake_time"] is None for v in local.values())
    assert {c["scenario"] for c in sim_cases} == {"ccrs", "ccrm", "ccrb", "cut_in"}

    paths = write_cases(sim_cases, tmp_path)
    assert_same_kpis(spark_case_kpis(spark, paths), local)
    # whole cases hashed into three groups: one case_kpis call per group, same numbers
    assert_same_kpis(spark_case_kpis(spark, paths, buckets=3), local)


@pytest.mark.spark
def test_an_arrow_table_gives_the_local_kpis(spark, case_factory):
    cases = case_factory(8, seed=5)
    table = pa.concat_tables([case_table(c) for c in cases])
    assert_same_kpis(spark_case_kpis(spark, table), compute(cases))


@pytest.mark.spark
@pytest.mark.parametrize("buckets", [None, 2])
def test_executor_runs_simulated_and_recorded_cases(spark, case_factory, tmp_path, buckets):
    simulated = case_factory(6, seed=3)
    recorded = case_factory(3, seed=4)
    drives = tmp_path / "lake dir"  # a space: Spark names files by URI, percent-encoded
    # recording 0: one file, used by two cases; recording 1: a file:// URI;
    # recording 2: a folder holding the recording in two time slices and a manifest
    path0 = lake.write_tracks(case_table(recorded[0]), drives / "rec-0.parquet")
    path1 = lake.write_tracks(case_table(recorded[1]), drives / "rec 1.parquet")
    table2 = case_table(recorded[2])
    cut = int(pa.compute.sum(pa.compute.less(table2["t"], 3.0)).as_py())
    lake.write_tracks(table2.slice(0, cut), drives / "rec-2" / "part-0.parquet")
    lake.write_tracks(table2.slice(cut), drives / "rec-2" / "part-1.parquet")
    (drives / "rec-2" / "manifest.json").write_text("{}")
    drive_cases = [
        {"case_id": "drive/a", "scenario": "rec", "params": {}, "source": {"kind": "drive"}},
        {"case_id": "drive/b", "scenario": "rec", "params": {}, "source": {"kind": "drive"}},
        {"case_id": "drive/c", "scenario": "rec", "params": {}, "source": {"kind": "drive"}},
        {"case_id": "drive/d", "scenario": "rec", "params": {}, "source": {"kind": "drive"}},
    ]
    uris = [str(path0), str(path0), path1.as_uri(), str(drives / "rec-2")]
    for case, uri in zip(drive_cases, uris, strict=True):
        case["source"]["uri"] = uri
    cases = simulated[:3] + drive_cases + simulated[3:]

    scratch = tmp_path / "scratch"
    executor = SparkExecutor(scratch_dir=scratch, buckets=buckets)
    handle = executor.submit(42, 3, cases)
    assert handle.startswith("spark-42-3-")
    assert executor.poll(handle) == "succeeded"
    got = executor.collect(handle)
    want = compute(cases)
    assert list(got) == [c["case_id"] for c in cases]
    assert_same_kpis(got, want)
    assert got["drive/a"] == got["drive/b"]
    assert not list(scratch.rglob("*.parquet"))  # the simulated cases' file is gone
    with pytest.raises(ExecutorError):
        executor.collect(handle)  # collected once


@pytest.mark.spark
@pytest.mark.parametrize("name", COMMONROAD)
def test_commonroad_recordings_give_the_local_kpis(spark, name, tmp_path):
    source = shared_path("data", "real", "commonroad", name)
    path = lake.write_tracks(
        lake.commonroad_to_table(source, drive_id=name), tmp_path / "r.parquet"
    )
    case = {"case_id": name, "scenario": "recorded", "params": {}}
    case["source"] = {"kind": "drive", "uri": str(path)}
    local = compute([case])
    assert list(local) == [name] and local[name]["steps"] > 0
    assert_same_kpis(spark_case_kpis(spark, path), local)


# --- bad input ------------------------------------------------------------------------------


def _bad_file(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.parquet"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(b"PAR1" + b"\x00garbage, not a Parquet file" * 40 + b"PAR1")
    elif kind == "no rows":
        pq.write_table(lake.TRACK_SCHEMA.empty_table(), path)
    elif kind == "not tracks":
        pq.write_table(pa.table({"case_id": ["a"], "speed": [1.0]}), path)
    return path


BAD = [
    ("empty", "empty file \\(0 bytes\\), not Parquet"),
    ("corrupt", "not a readable Parquet file"),
    ("no rows", "holds no rows"),
    ("not tracks", "not a track file, lacks column"),
]


@pytest.mark.spark
@pytest.mark.parametrize(("kind", "message"), BAD)
def test_bad_parquet_is_an_executor_error(spark, case_factory, tmp_path, kind, message):
    good_case = case_factory(1)[0]
    good = lake.write_tracks(case_table(good_case), tmp_path / "good.parquet")
    bad = _bad_file(kind, tmp_path)
    with pytest.raises(ExecutorError, match=message) as err:
        spark_case_kpis(spark, [good, bad])
    assert str(bad) in str(err.value)  # names the file

    executor = SparkExecutor(scratch_dir=tmp_path / "scratch")
    cases = [good_case, {"case_id": "rec", "source": {"kind": "drive", "uri": str(bad)}}]
    with pytest.raises(ExecutorError, match=message):
        executor.submit(1, 0, cases)


@pytest.mark.spark
def test_damaged_pages_fail_the_spark_job(spark, case_factory, tmp_path):
    path = lake.write_tracks(case_table(case_factory(1)[0]), tmp_path / "x.parquet")
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(4, len(data) - footer, 7):  # the column chunks, not the footer
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(ExecutorError, match="Spark KPI job failed"):
        spark_case_kpis(spark, path)


@pytest.mark.spark
def test_kpi_errors_in_the_workers_reach_the_caller(spark, case_factory):
    table = case_table(case_factory(1)[0])
    doubled = pa.concat_tables([table, table])  # two ego rows at every time step
    with pytest.raises(ExecutorError, match="two ego rows"):
        spark_case_kpis(spark, doubled)
    assert spark_case_kpis(spark, table)  # the session is still usable


# --- cancellation ---------------------------------------------------------------------------


@pytest.mark.spark
def test_cancel_interrupts_the_running_job_group(spark, sim_cases, tmp_path):
    started = str(tmp_path / "started")

    def slow_kpis(table, flag=started):  # pickled by value into the Python workers
        import pathlib
        import time

        from validation.kpis import case_kpis

        pathlib.Path(flag).touch()
        time.sleep(20)
        return case_kpis(table)

    executor = SparkExecutor(scratch_dir=tmp_path / "scratch", kpi_fn=slow_kpis)
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(handle=executor.submit(5, 1, sim_cases[:4]))
    )
    thread.start()
    deadline = time.monotonic() + 120
    while not Path(started).exists() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    handle = executor.running
    assert handle is not None and handle.startswith("spark-5-1-")
    executor.cancel(handle)
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert outcome["handle"] == handle
    assert executor.poll(handle) == "cancelled"
    with pytest.raises(ExecutorError, match="cancelled"):
        executor.collect(handle)
    tracker = spark.sparkContext.statusTracker()
    statuses = [tracker.getJobInfo(j).status for j in tracker.getJobIdsForGroup(handle)]
    assert "FAILED" in statuses  # Spark reports a cancelled job as failed
