"""Celery entry points of the validation app: ids in, a service does the work."""

import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError

from evidence.storage import StorageError
from validation import services
from validation.execution.base import ExecutorBusy, ShardPending, TransientExecutorError

logger = logging.getLogger(__name__)

#: Seconds between polls of a running job when tasks run in-process.
POLL_PAUSE_IN_PROCESS = 5.0


@shared_task(
    bind=True,
    name=services.RUN_SHARD_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, ConnectionError, TimeoutError, TransientExecutorError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def run_shard_task(self, run_id: int, shard: int, handle: str | None = None) -> str:
    """One shard of a run. Acknowledged only when done: a worker killed mid-shard leaves the
    message to be delivered again, and the unique case results make the rerun harmless. A job
    still running elsewhere (SageMaker) is polled again, with a growing pause, until it ends."""
    polls = 0
    while True:
        try:
            return services.run_shard(run_id, shard, handle)
        except ExecutorBusy as busy:
            pause = min(60, 5 * 2 ** min(self.request.retries + polls, 4))
            if not self.request.is_eager:
                logger.info("run %s shard %s waits: %s", run_id, shard, busy)
                raise self.retry(
                    args=(run_id, shard, handle), countdown=pause, max_retries=None
                ) from None
            polls += 1
            time.sleep(POLL_PAUSE_IN_PROCESS)
        except ShardPending as pending:
            handle = pending.handle
            pause = min(60, 5 * 2 ** min(self.request.retries + polls, 4))
            if not self.request.is_eager:
                raise self.retry(
                    args=(run_id, shard, handle), countdown=pause, max_retries=None
                ) from None
            # In-process (no broker): nobody else would poll, so wait here.
            polls += 1
            time.sleep(POLL_PAUSE_IN_PROCESS)


@shared_task(name="validation.watch_lake")
def watch_lake_task() -> list[int]:
    """Celery beat calls this periodically: every watching campaign polls its prefix."""
    from validation.models import Campaign

    campaigns = Campaign.objects.exclude(watch_uri="")
    if settings.SAFECASE_LAKE_QUEUE_URL:  # S3 announces its drives on the queue: no listing
        campaigns = campaigns.exclude(watch_uri__startswith="s3://")
    runs = []
    for campaign in campaigns.select_related("project", "created_by"):
        try:
            run = services.watch_poll(campaign)
        except ValidationError as exc:  # one bad file must not stop the other campaigns
            logger.warning("campaign %s: %s", campaign.name, "; ".join(exc.messages))
            continue
        if run is not None:
            runs.append(run.pk)
    return runs


@shared_task(name="validation.consume_lake_events", ignore_result=True)
def consume_lake_events_task() -> list[int]:
    """Receive one batch of S3 drive announcements from the lake queue and ingest it."""
    from validation import ingestion

    return ingestion.consume().runs


@shared_task(
    name=services.RESULTS_TO_LAKE_TASK,
    autoretry_for=(StorageError,),
    retry_backoff=True,
    max_retries=8,
    ignore_result=True,
)
def results_to_lake_task(run_id: int) -> list[str]:
    """Write a finished run's case results and verdicts as Parquet in the lake."""
    from validation import results_lake
    from validation.models import Run

    return results_lake.write(Run.objects.select_related("campaign__project").get(pk=run_id))
