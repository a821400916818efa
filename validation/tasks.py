"""Celery entry points of the validation app: ids in, a service does the work."""

import logging

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import OperationalError

from validation import services

logger = logging.getLogger(__name__)


@shared_task(
    name="validation.run_shard",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, ConnectionError, TimeoutError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def run_shard_task(run_id: int, shard: int) -> str:
    """One shard of a run. Acknowledged only when done: a worker killed mid-shard leaves the
    message to be delivered again, and the unique case results make the rerun harmless."""
    return services.run_shard(run_id, shard)


@shared_task(name="validation.watch_lake")
def watch_lake_task() -> list[int]:
    """Celery beat calls this periodically: every watching campaign polls its prefix."""
    from validation.models import Campaign

    runs = []
    for campaign in Campaign.objects.exclude(watch_uri="").select_related("project", "created_by"):
        try:
            run = services.watch_poll(campaign)
        except ValidationError as exc:  # one bad file must not stop the other campaigns
            logger.warning("campaign %s: %s", campaign.name, "; ".join(exc.messages))
            continue
        if run is not None:
            runs.append(run.pk)
    return runs
