"""Celery entry points of the evidence app."""

from celery import shared_task

from evidence.publication import publish_pending


@shared_task(name="evidence.publish_checkpoints")
def publish_checkpoints_task() -> dict[str, int]:
    """Publish every queued checkpoint (run by Celery beat, see ``CELERY_BEAT_SCHEDULE``).

    A checkpoint is queued when the store refused it at append time; this retries until the
    store takes it, so a store outage delays publication instead of losing it.
    """
    report = publish_pending()
    return {"published": len(report.published), "unpublished": len(report.unpublished)}
