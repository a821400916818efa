"""S3 event notifications: which objects a queue message announces.

On AWS a new drive in the lake is announced by S3 as an event notification on an SQS queue
(``deploy/aws/safecase.yaml``). A message body is JSON with a ``Records`` list; each record
names the bucket, the key (URL-encoded, a space as ``+``), the size and the event. S3 also sends
one ``s3:TestEvent`` when the notification is configured, and a message that went through SNS
first wraps the same JSON in its ``Message`` field. This module only reads messages; what is
done with the objects is :mod:`validation.ingestion`'s business.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus


class EventError(ValueError):
    """A queue message that is not an S3 event notification."""


@dataclass(frozen=True)
class LandedObject:
    bucket: str
    key: str
    size: int
    event: str


def _records(body: object) -> list:
    if not isinstance(body, dict):
        raise EventError("the message is not a JSON object")
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        return _records(_json(body["Message"]))  # delivered through SNS
    if body.get("Event") == "s3:TestEvent":
        return []
    records = body.get("Records")
    if not isinstance(records, list):
        raise EventError("the message has no Records list")
    return records


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EventError(f"the message is not JSON ({exc.msg})") from None


def created_objects(message_body: str) -> list[LandedObject]:
    """The objects an SQS message body says were created; other events are left out."""
    found = []
    for number, record in enumerate(_records(_json(message_body)), start=1):
        try:
            event = str(record["eventName"])
            bucket = str(record["s3"]["bucket"]["name"])
            obj = record["s3"]["object"]
            key = unquote_plus(str(obj["key"]))
            size = int(obj.get("size", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise EventError(f"record {number} is not an S3 event record ({exc!r})") from None
        if not event.startswith("ObjectCreated:"):
            continue
        if not bucket or not key or size < 0:
            raise EventError(f"record {number} names no bucket or key")
        found.append(LandedObject(bucket=bucket, key=key, size=size, event=event))
    return found
