"""Finished runs' case results and verdicts as partitioned Parquet in the lake, for SQL.

With ``SAFECASE_RESULTS_URL`` set (``s3://lake-bucket/results`` on AWS, or a ``file://``
folder), each run that succeeds also writes two files in Hive layout, so Athena (through the
Glue tables of ``deploy/aws/safecase.yaml``), DuckDB or Spark query them by partition::

    case_results/project=KEY/campaign=NAME/run=ID/part-0.parquet
    verdicts/project=KEY/campaign=NAME/run=ID/part-0.parquet

The files are a copy for analytics: the database and the ledger stay the record, and the
ledger's result digest is what proves a run's numbers. Partition values are percent-encoded as
Hive does, so a campaign name with ``/`` or ``=`` stays one partition.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any
from urllib.parse import quote

import pyarrow as pa
from django.conf import settings

from validation.models import CaseResult, Run, Verdict

CASE_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("scenario", pa.string()),
        ("shard", pa.int32()),
        ("collision", pa.bool_()),
        ("min_ttc_s", pa.float64()),
        ("impact_speed_kmh", pa.float64()),
        ("distance_km", pa.float64()),
        ("duration_h", pa.float64()),
        ("parameters", pa.string()),
        ("kpis", pa.string()),
    ]
)
VERDICT_SCHEMA = pa.schema(
    [
        ("criterion", pa.string()),
        ("requirement", pa.string()),
        ("verdict", pa.string()),
        ("failures", pa.int64()),
        ("trials", pa.int64()),
        ("exposure", pa.float64()),
        ("upper_bound", pa.float64()),
        ("confidence", pa.float64()),
        ("target", pa.float64()),
        ("progress", pa.float64()),
        ("cases_in_scope", pa.int64()),
        ("cases_out_of_scope", pa.int64()),
        ("judged_sha256", pa.string()),
    ]
)


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if value == "inf":
        return math.inf
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def partition(run: Run) -> str:
    """The Hive partition path of a run: ``project=KEY/campaign=NAME/run=ID``."""
    campaign = run.campaign

    def enc(value: str) -> str:
        return quote(value, safe="")

    return f"project={enc(campaign.project.key)}/campaign={enc(campaign.name)}/run={run.pk}"


def tables(run: Run) -> dict[str, Any]:
    """The run's case results and verdicts as Arrow tables."""
    rows = CaseResult.objects.filter(run=run).order_by("case_id")
    cases: dict[str, list] = {name: [] for name in CASE_SCHEMA.names}
    for case_id, scenario, shard, params, kpis in rows.values_list(
        "case_id", "scenario", "shard", "params", "kpis"
    ):
        cases["case_id"].append(case_id)
        cases["scenario"].append(scenario)
        cases["shard"].append(shard)
        collision = kpis.get("collision")
        cases["collision"].append(None if collision is None else bool(collision))
        cases["min_ttc_s"].append(_number(kpis.get("min_ttc")))
        cases["impact_speed_kmh"].append(_number(kpis.get("impact_speed_kmh")))
        cases["distance_km"].append(_number(kpis.get("distance_km")))
        cases["duration_h"].append(_number(kpis.get("duration_h")))
        cases["parameters"].append(json.dumps(params, sort_keys=True))
        cases["kpis"].append(json.dumps(kpis, sort_keys=True))
    verdicts: dict[str, list] = {name: [] for name in VERDICT_SCHEMA.names}
    for v in (
        Verdict.objects.filter(run=run)
        .select_related("criterion__requirement")
        .order_by("criterion__code")
    ):
        requirement = v.criterion.requirement
        values = {
            "criterion": v.criterion.code,
            "requirement": requirement.code if requirement else None,
            "verdict": v.verdict,
            "failures": v.failures,
            "trials": v.trials,
            "exposure": v.exposure,
            "upper_bound": v.upper_bound,
            "confidence": v.criterion.confidence,
            "target": v.target,
            "progress": v.progress,
            "cases_in_scope": v.cases_in_scope,
            "cases_out_of_scope": v.cases_out_of_scope,
            "judged_sha256": v.judged_sha256,
        }
        for name in VERDICT_SCHEMA.names:
            verdicts[name].append(values[name])
    return {
        "case_results": pa.Table.from_pydict(cases, schema=CASE_SCHEMA),
        "verdicts": pa.Table.from_pydict(verdicts, schema=VERDICT_SCHEMA),
    }


def write(run: Run, url: str | None = None) -> list[str]:
    """Write the run's two Parquet files under ``url`` (default ``SAFECASE_RESULTS_URL``).

    Returns the keys written, or nothing when no results location is configured. Writing again
    replaces the files with the same content, so a retried task is harmless.
    """
    import pyarrow.parquet as pq

    from evidence.storage import open_store

    url = url if url is not None else settings.SAFECASE_RESULTS_URL
    if not url:
        return []
    store = open_store(url)
    written = []
    for name, table in tables(run).items():
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        key = f"{name}/{partition(run)}/part-0.parquet"
        store.put_bytes(key, buffer.getvalue())
        written.append(key)
    return written
