"""From a drive landing in the lake to its verdict in the ledger (issue: validation campaigns).

A ~1 GB Parquet drive (BENCH_LANDING_MB) of many AEB test cases lands under a watched prefix;
the timer runs from the file being in place to the run's statement being in the ledger, through
the same path Celery beat takes (watch poll, shards, KPIs, verdicts, ledger). Target: < 5 min.
"""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks._setup import report, scratch

TARGET_MB = int(os.environ.get("BENCH_LANDING_MB", 1024))


def make_drive(path, target_mb: int) -> int:
    """Write a drive file of about ``target_mb`` MB: simulated cases, copied with new ids."""
    from validation import lake

    base = pa.concat_tables(
        [
            lake.generate_drive(
                f"case-{i:03d}",
                lake.random_case_params(__import__("numpy").random.default_rng(i)),
                seed=i,
            )
            for i in range(200)
        ]
    )
    writer = pq.ParquetWriter(path, base.schema, compression="snappy")
    column = base.schema.get_field_index("case_id")
    rows, copy = 0, 0
    while copy == 0 or path.stat().st_size < target_mb * 2**20:
        ids = pa.array([f"{c}-{copy:05d}" for c in base["case_id"].to_pylist()], pa.string())
        writer.write_table(base.set_column(column, base.schema.field("case_id"), ids))
        rows += base.num_rows
        copy += 1
    writer.close()
    return rows


def main() -> None:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from compliance import services as compliance
    from projects.models import Membership, Project
    from validation import services
    from validation.models import Run

    user = get_user_model().objects.create_user("lander")
    project = Project.objects.create(key="LAND", name="Landing drives")
    Membership.objects.create(project=project, user=user, role="admin")
    fsr = compliance.requirement_create(
        user=user, project=project, code="FSR-010", kind="FSR", asil="C"
    )
    ac = compliance.acceptance_criterion_save(
        user=user,
        project=project,
        code="AC-04",
        requirement=fsr,
        unit="cases",
        allowed_failure_probability=0.05,
        confidence=0.9,
        kpi="min_distance",
        comparator=">",
        threshold=0.0,
        description="no collision",
    )
    incoming = scratch() / "incoming"
    incoming.mkdir()
    campaign = services.campaign_create(
        user=user, project=project, name="fleet", spaces=[], criteria=[ac], shard_size=20_000
    )
    campaign.watch_uri = incoming.as_uri()
    campaign.save()
    staging = scratch() / "drive.parquet"
    started = time.perf_counter()
    rows = make_drive(staging, TARGET_MB)
    size = staging.stat().st_size
    print(
        f"  (wrote a {size / 2**20:,.0f} MiB drive of {rows:,} rows in "
        f"{time.perf_counter() - started:.0f} s)"
    )
    final = incoming / "drive-0001.parquet"
    staging.rename(final)  # lands atomically
    landed = time.perf_counter()
    with transaction.atomic():
        run = services.watch_poll(campaign)
    run = Run.objects.get(pk=run.pk)
    while run.status not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.5)
        run.refresh_from_db()
    elapsed = time.perf_counter() - landed
    assert run.status == "succeeded", run.error
    report(
        f"{size / 2**20:,.0f} MiB drive ({run.cases_total:,} cases, {rows:,} rows) "
        "landing -> verdict in the ledger",
        elapsed,
        "s",
        "< 300 s",
        f"ledger entry {run.entry.index}, {rows / elapsed:,.0f} rows/s",
    )
