"""Finished runs in the lake as partitioned Parquet, queried by SQL (DuckDB), equal to the API."""

from pathlib import Path

import duckdb
import pytest

from validation import results_lake, services
from validation.models import Run

pytestmark = pytest.mark.django_db


def _run(members, campaign, capture) -> Run:
    with capture(execute=True):
        run = services.run_start(user=members["engineer"], campaign=campaign)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def _query(root: Path, table: str, sql: str, *params):
    glob = (root / table / "**" / "*.parquet").as_posix().replace("'", "''")
    with duckdb.connect() as db:
        db.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true)"
        )
        return db.execute(sql, list(params)).fetchall()


def test_a_finished_run_is_queryable_and_says_what_the_api_says(
    api, members, campaign, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.SAFECASE_RESULTS_URL = (tmp_path / "results").as_uri()
    run = _run(members, campaign, django_capture_on_commit_callbacks)
    root = tmp_path / "results"
    part = f"project=AEB/campaign=CCRs/run={run.pk}/part-0.parquet"
    assert (root / "case_results" / part).is_file() and (root / "verdicts" / part).is_file()

    client = api(members["viewer"])
    detail = client.get(f"/api/v1/projects/AEB/runs/{run.pk}/").json()
    results = client.get(f"/api/v1/projects/AEB/runs/{run.pk}/results/?page_size=500").json()
    api_cases = results["results"] if isinstance(results, dict) else results

    [(cases, collisions)] = _query(
        root,
        "case_results",
        "SELECT count(*), count(*) FILTER (WHERE collision) FROM case_results "
        "WHERE project = ? AND campaign = ? AND run = ?",
        "AEB",
        "CCRs",
        run.pk,
    )
    assert cases == run.cases_total == len(api_cases)
    assert collisions == sum(bool(c["kpis"].get("collision")) for c in api_cases)

    rows = _query(
        root,
        "verdicts",
        "SELECT criterion, verdict, failures, trials, upper_bound FROM verdicts WHERE run = ?",
        run.pk,
    )
    assert rows == [
        (v["criterion"], v["verdict"], v["failures"], v["trials"], pytest.approx(v["upper_bound"]))
        for v in detail["verdicts"]
    ]
    # the minimum time to collision per case, as SQL sees it and as the API gives it
    by_sql = dict(
        _query(
            root,
            "case_results",
            "SELECT case_id, min_ttc_s FROM case_results WHERE run = ?",
            run.pk,
        )
    )
    for case in api_cases:
        expected = case["kpis"].get("min_ttc")
        expected = float("inf") if expected == "inf" else expected
        assert by_sql[case["case_id"]] == pytest.approx(expected), case["case_id"]


def test_two_runs_are_two_partitions(
    members, campaign, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.SAFECASE_RESULTS_URL = (tmp_path / "results").as_uri()
    first = _run(members, campaign, django_capture_on_commit_callbacks)
    second = _run(members, campaign, django_capture_on_commit_callbacks)
    counts = _query(
        tmp_path / "results",
        "case_results",
        "SELECT run, count(*) FROM case_results GROUP BY run ORDER BY run",
    )
    assert counts == [(first.pk, first.cases_total), (second.pk, second.cases_total)]


def test_nothing_is_written_without_a_results_location(
    members, campaign, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.SAFECASE_RESULTS_URL = ""
    run = _run(members, campaign, django_capture_on_commit_callbacks)
    assert results_lake.write(run) == []


def test_partition_values_are_escaped():
    class Named:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    run = Named(pk=7, campaign=Named(name="CCRs/v2=a b", project=Named(key="AEB")))
    assert results_lake.partition(run) == "project=AEB/campaign=CCRs%2Fv2%3Da%20b/run=7"


@pytest.mark.s3
def test_results_land_in_the_s3_lake(
    members, campaign, s3, tmp_path, settings, django_capture_on_commit_callbacks
):
    s3.create_bucket(Bucket="lake")
    settings.SAFECASE_RESULTS_URL = "s3://lake/results"
    run = _run(members, campaign, django_capture_on_commit_callbacks)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"])
    part = f"project=AEB/campaign=CCRs/run={run.pk}/part-0.parquet"
    assert keys == [f"results/case_results/{part}", f"results/verdicts/{part}"]
    # fetched as Athena would read them, then queried
    for key in keys:
        target = tmp_path / "copy" / key.removeprefix("results/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket="lake", Key=key)["Body"].read())
    [(cases,)] = _query(tmp_path / "copy", "case_results", "SELECT count(*) FROM case_results")
    assert cases == run.cases_total
