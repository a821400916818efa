"""Celery entry points of the evidence app."""

import logging

from celery import shared_task
from django.conf import settings

from evidence import ledger
from evidence.models import Checkpoint
from evidence.publication import publish_pending
from evidence.witnessing import WitnessUnavailable, witness_checkpoint

logger = logging.getLogger(__name__)


@shared_task(name="evidence.publish_checkpoints")
def publish_checkpoints_task() -> dict[str, int]:
    """Publish every queued checkpoint (run by Celery beat, see ``CELERY_BEAT_SCHEDULE``).

    A checkpoint is queued when the store refused it at append time; this retries until the
    store takes it, so a store outage delays publication instead of losing it.
    """
    report = publish_pending()
    return {"published": len(report.published), "unpublished": len(report.unpublished)}


@shared_task(name="evidence.integrate_ledgers")
def integrate_ledgers_task() -> dict[str, int]:
    """Sign a checkpoint over every log with entries none covers yet, and integrate queued
    entries (run by Celery beat every integration interval when one is set): entries appended
    within an interval are covered even when no later append comes."""
    return ledger.integrate_all()


@shared_task(name="evidence.witness_checkpoint", bind=True, max_retries=8)
def witness_checkpoint_task(self, checkpoint_id: int) -> dict[str, list[str]]:
    """Submit one checkpoint to the witnesses (queued after its append has committed).

    Retried with growing delays while a witness cannot be reached; a witness that already
    cosigned a later checkpoint of the log is skipped, since that one covers this.
    """
    checkpoint = Checkpoint.objects.select_related("project").get(pk=checkpoint_id)
    report = witness_checkpoint(checkpoint)
    if report.unavailable:
        delay = min(600, 10 * 2**self.request.retries)  # 10 s, 20 s, ... up to 10 minutes
        raise self.retry(exc=WitnessUnavailable(", ".join(report.unavailable)), countdown=delay)
    return {"cosigned": report.cosigned, "refused": report.refused, "skipped": report.skipped}


def on_checkpoint_committed(sender, checkpoint: Checkpoint, **kwargs) -> None:
    """After an append has committed: ask the witnesses, in the embedded mode at once, else by
    the task (which retries). A failure is logged, never raised: the append has committed, and
    ``verify_ledger`` reports a checkpoint left without its quorum."""
    if not settings.SAFECASE_WITNESSES:
        return
    # the Celery app's own setting: it is what decides whether a task would run here and now
    if not witness_checkpoint_task.app.conf.task_always_eager:
        witness_checkpoint_task.delay(checkpoint.pk)
        return
    try:
        witness_checkpoint(checkpoint, background=True)
    except Exception:  # noqa: BLE001 - logged; verify_ledger reports the missing quorum
        logger.exception("checkpoint %s was not submitted to its witnesses", checkpoint)
