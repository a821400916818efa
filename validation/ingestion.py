"""Event-driven ingestion: new drives announced by S3 through SQS start their campaigns' runs.

On AWS nothing lists the lake: S3 sends an event notification for every object created under
the drive prefix to an SQS queue (``SAFECASE_LAKE_QUEUE_URL``), and :func:`consume` receives
them (long polling), hands each created Parquet object to every campaign that watches a prefix
it lies under (:func:`validation.services.watch_land`, which ignores drives already seen), and
deletes a message only once everything it announced was handled. A message that cannot be read,
or whose drive cannot be ingested, stays on the queue: it comes back after the visibility
timeout and, after the queue's receive limit, goes to its dead-letter queue for a person to look
at. Prefixes on ``file://`` are still polled (:func:`validation.services.watch_poll`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError

from evidence.storage import StorageError
from validation import services
from validation.lake.events import EventError, LandedObject, created_objects
from validation.models import Campaign, Run

logger = logging.getLogger(__name__)


@dataclass
class Consumed:
    """What one :func:`consume` call did."""

    runs: list[int] = field(default_factory=list)
    deleted: int = 0
    kept: list[str] = field(default_factory=list)  # why each message left on the queue stayed


def _watchers() -> list[tuple[Campaign, str, str]]:
    """(campaign, bucket, prefix with a trailing slash or empty) of every S3-watching campaign."""
    found = []
    for campaign in Campaign.objects.filter(watch_uri__startswith="s3://").select_related(
        "project", "created_by"
    ):
        parsed = urlparse(campaign.watch_uri)
        prefix = parsed.path.strip("/")
        found.append((campaign, parsed.netloc, f"{prefix}/" if prefix else ""))
    return found


def ingest(objects: list[LandedObject]) -> list[Run]:
    """Start a run per campaign over the Parquet drives among ``objects`` it watches."""
    drives: dict[int, list[tuple[str, int, str]]] = defaultdict(list)
    campaigns: dict[int, Campaign] = {}
    watchers = _watchers()
    for obj in objects:
        if not obj.key.endswith(".parquet"):
            continue
        for campaign, bucket, prefix in watchers:
            if obj.bucket == bucket and obj.key.startswith(prefix):
                key = obj.key[len(prefix) :]
                drives[campaign.pk].append((key, obj.size, f"s3://{bucket}/{obj.key}"))
                campaigns[campaign.pk] = campaign
    runs = []
    for pk, landed in drives.items():
        run = services.watch_land(campaigns[pk], landed)
        if run is not None:
            runs.append(run)
    return runs


def consume(
    queue_url: str | None = None,
    *,
    wait_seconds: int | None = None,
    max_messages: int = 10,
    client=None,
) -> Consumed:
    """Receive one batch of drive announcements from the queue and ingest it."""
    from evidence import aws

    queue_url = queue_url or settings.SAFECASE_LAKE_QUEUE_URL
    if not queue_url:
        return Consumed()
    sqs = client or aws.client("sqs")
    wait = settings.SAFECASE_LAKE_QUEUE_WAIT if wait_seconds is None else wait_seconds
    received = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait
    ).get("Messages", [])
    done = Consumed()
    handled = []
    for message in received:
        ident = message.get("MessageId", "?")
        try:
            runs = ingest(created_objects(message.get("Body", "")))
        except EventError as exc:
            done.kept.append(f"message {ident}: {exc}")
            logger.warning("lake queue message %s is not an S3 event: %s", ident, exc)
            continue
        except (ValidationError, StorageError) as exc:
            reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            done.kept.append(f"message {ident}: {reason}")
            logger.warning("lake queue message %s: %s", ident, reason)
            continue
        done.runs.extend(run.pk for run in runs)
        handled.append(message)
    for start in range(0, len(handled), 10):
        batch = handled[start : start + 10]
        answer = sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
        done.deleted += len(answer.get("Successful", []))
        for failure in answer.get("Failed", []):
            logger.warning("lake queue: a handled message was not deleted: %s", failure)
    return done
