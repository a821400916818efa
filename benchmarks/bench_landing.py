"""From a drive landing in the lake to its verdict in the ledger (issues: validation campaigns,
production at scale). Target: under 5 min for a 1 GB drive.

One ~1 GB Parquet drive (BENCH_LANDING_MB) of many AEB test cases lands twice, in the same run:

- embedded: under a watched ``file://`` prefix; the timer runs from the file being in place to
  the run's statement being in the ledger, through the path Celery beat takes (watch poll,
  shards, KPIs, verdicts, ledger);
- event-driven: uploaded to the lake bucket of an S3 server on loopback (moto's server mode)
  whose event notification announces it on an SQS queue; the timer runs from the upload's end
  (the object is in the lake) through the worker's task consuming the announcement, fetching
  the drive, the campaign's run and its verdicts to the statement in the ledger. The upload's
  own time is printed beside it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

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


def _setup():
    from django.contrib.auth import get_user_model

    from compliance import services as compliance
    from projects.models import Membership, Project

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
    return user, project, ac


def _campaign(user, project, ac, name: str, watch_uri: str):
    from validation import services

    campaign = services.campaign_create(
        user=user, project=project, name=name, spaces=[], criteria=[ac], shard_size=20_000
    )
    campaign.watch_uri = watch_uri
    campaign.save()
    return campaign


def _finished(run_id: int):
    from validation.models import Run

    run = Run.objects.get(pk=run_id)
    while run.status not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.5)
        run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def embedded(user, project, ac, staging: Path) -> tuple[Path, float, object]:
    """The drive lands under a watched folder; the beat's poll starts its run. Returns where
    the drive now lies, the seconds from landing to verdict, and the run."""
    from django.db import transaction

    from validation import services

    incoming = scratch() / "incoming"
    incoming.mkdir()
    campaign = _campaign(user, project, ac, "fleet", incoming.as_uri())
    final = incoming / "drive-0001.parquet"
    staging.rename(final)  # lands atomically
    landed = time.perf_counter()
    with transaction.atomic():
        run = services.watch_poll(campaign)
    run = _finished(run.pk)
    return final, time.perf_counter() - landed, run


def event_driven(user, project, ac, drive: Path) -> tuple[float, float, object]:
    """The drive is uploaded to the lake bucket on a loopback S3 server; S3 announces it on
    SQS and the worker's task consumes the announcement. Returns the upload's seconds, the
    seconds from the object being in the lake to the verdict, and the run."""
    import logging

    import boto3
    from boto3.s3.transfer import TransferConfig
    from django.conf import settings

    from tests import prodset
    from tests.s3 import announcing_bucket
    from validation.tasks import consume_lake_events_task

    logging.getLogger("botocore").setLevel(logging.WARNING)
    with prodset.moto_server() as endpoint:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",  # noqa: S105 (the loopback server's dummy key)
            AWS_DEFAULT_REGION="us-east-1",
        )
        queue_url = announcing_bucket(
            boto3.client("s3"), boto3.client("sqs"), "lake", "drives/", "lake-drives"
        )
        settings.SAFECASE_LAKE_QUEUE_URL = queue_url
        settings.SAFECASE_LAKE_QUEUE_WAIT = 1
        settings.VAR_DIR = scratch() / "var"  # the worker's lake cache
        consume_lake_events_task()  # S3's test event from configuring the notification
        _campaign(user, project, ac, "fleet-s3", "s3://lake/drives")
        started = time.perf_counter()
        boto3.client("s3").upload_file(
            str(drive),
            "lake",
            "drives/2026/drive-0001.parquet",
            Config=TransferConfig(multipart_chunksize=64 * 2**20),
        )
        landed = time.perf_counter()
        runs: list[int] = []
        while not runs and time.perf_counter() - landed < 600:
            runs = consume_lake_events_task()  # what beat schedules on the worker
        assert len(runs) == 1, f"the announcement started {len(runs)} runs"
        run = _finished(runs[0])
        elapsed = time.perf_counter() - landed
    return landed - started, elapsed, run


def main() -> None:
    user, project, ac = _setup()
    staging = scratch() / "drive.parquet"
    started = time.perf_counter()
    rows = make_drive(staging, TARGET_MB)
    size = staging.stat().st_size / 2**20
    made = time.perf_counter() - started
    print(f"  (wrote a {size:,.0f} MiB drive of {rows:,} rows in {made:.0f} s)")

    drive, local_s, run = embedded(user, project, ac, staging)
    report(
        f"embedded path (file:// poll): {size:,.0f} MiB drive ({run.cases_total:,} cases, "
        f"{rows:,} rows) landing -> verdict in the ledger",
        local_s,
        "s",
        "< 300 s",
        f"ledger entry {run.entry.index}, {rows / local_s:,.0f} rows/s",
    )
    upload_s, s3_s, run = event_driven(user, project, ac, drive)
    print(f"  (uploaded to the lake bucket in {upload_s:.1f} s, {size / upload_s:,.0f} MiB/s)")
    report(
        f"S3/SQS path (event notification, worker consumes): {size:,.0f} MiB drive "
        f"({run.cases_total:,} cases) landing -> verdict in the ledger",
        s3_s,
        "s",
        "< 300 s",
        f"embedded path {local_s:.1f} s in this run; ledger entry {run.entry.index}",
    )
