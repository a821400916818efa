"""Event-driven ingestion: S3 announces new drives on SQS and the consumer starts the runs.

The S3 and SQS here are moto's server on loopback; the bucket's event notification delivers
real S3 event records to the queue, so the consumer reads what AWS would send.
"""

import io
import json

import pytest
from django.core.management import call_command

from tests.s3 import announcing_bucket
from validation import ingestion, lake, services
from validation.lake.events import EventError, created_objects
from validation.models import LandedDrive, Run
from validation.tasks import watch_lake_task

pytestmark = pytest.mark.django_db


def _record(key, *, event="ObjectCreated:Put", bucket="lake", size=10):
    return {
        "eventName": event,
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}},
    }


def test_records_are_read_with_their_keys_decoded():
    body = json.dumps(
        {
            "Records": [
                _record("drives/2026%2F12/drive+one.parquet"),
                _record("drives/gone.parquet", event="ObjectRemoved:Delete"),
            ]
        }
    )
    [landed] = created_objects(body)
    assert (landed.bucket, landed.key, landed.size) == (
        "lake",
        "drives/2026/12/drive one.parquet",
        10,
    )


def test_the_test_event_and_sns_wrapping_are_understood():
    assert created_objects(json.dumps({"Event": "s3:TestEvent", "Bucket": "lake"})) == []
    wrapped = {
        "Type": "Notification",
        "Message": json.dumps({"Records": [_record("drives/a.parquet")]}),
    }
    assert [o.key for o in created_objects(json.dumps(wrapped))] == ["drives/a.parquet"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"Records": "x"}), "no Records list"),
        (json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}), "record 1"),
        (json.dumps({"Records": [_record("")]}), "names no bucket or key"),
    ],
)
def test_a_message_that_is_not_an_s3_event_is_refused(body, says):
    with pytest.raises(EventError, match=says):
        created_objects(body)


@pytest.fixture
def watching(project, members, no_collision):
    campaign = services.campaign_create(
        user=members["engineer"], project=project, name="fleet", spaces=[], criteria=[no_collision]
    )
    campaign.watch_uri = "s3://lake/drives"
    campaign.save()
    return campaign


@pytest.fixture
def lake_queue(s3):
    """The lake bucket announcing every object created under ``drives/`` on an SQS queue."""
    import boto3

    sqs = boto3.client("sqs")
    queue_url = announcing_bucket(s3, sqs, "lake", "drives/", "drives")
    # configuring the notification sends S3's test event; it must be consumed harmlessly
    return sqs, queue_url


def _upload(s3, tmp_path, key, seed):
    name = key.rsplit("/", 1)[-1].removesuffix(".parquet")
    table = lake.generate_drive(
        name, {"scenario": "ccrs", "ego_speed": 30, "initial_gap": 40}, seed=seed
    )
    lake.write_tracks(table, tmp_path / f"{name}.parquet")
    s3.put_object(Bucket="lake", Key=key, Body=(tmp_path / f"{name}.parquet").read_bytes())


def _waiting(sqs, queue_url) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.mark.s3
def test_an_announced_drive_is_judged_and_its_message_deleted(
    watching, lake_queue, s3, tmp_path, django_capture_on_commit_callbacks
):
    sqs, queue_url = lake_queue
    _upload(s3, tmp_path, "drives/2026/drive 201.parquet", seed=7)
    _upload(s3, tmp_path, "elsewhere/drive-202.parquet", seed=8)  # not announced: other prefix
    with django_capture_on_commit_callbacks(execute=True):
        done = ingestion.consume(queue_url, wait_seconds=1)
    assert done.kept == []
    [run_id] = done.runs
    run = Run.objects.get(pk=run_id)
    assert run.status == "succeeded", run.error
    assert run.cases_total == 1
    assert list(LandedDrive.objects.values_list("key", "run")) == [
        ("2026/drive 201.parquet", run_id)
    ]
    assert done.deleted == 2  # the test event and the drive's announcement
    assert _waiting(sqs, queue_url) == 0


@pytest.mark.s3
def test_an_announcement_delivered_twice_starts_one_run(
    watching, lake_queue, s3, tmp_path, django_capture_on_commit_callbacks
):
    sqs, queue_url = lake_queue
    _upload(s3, tmp_path, "drives/drive-301.parquet", seed=9)
    with django_capture_on_commit_callbacks(execute=True):
        first = ingestion.consume(queue_url, wait_seconds=1)
    assert len(first.runs) == 1
    # SQS delivers at least once: the same record again changes nothing and is deleted
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps({"Records": [_record("drives/drive-301.parquet", size=1)]}),
    )
    again = ingestion.consume(queue_url, wait_seconds=1)
    assert (again.runs, again.deleted) == ([], 1)
    assert Run.objects.count() == 1


@pytest.mark.s3
def test_a_bad_message_stays_on_the_queue_and_changes_nothing(watching, lake_queue):
    sqs, queue_url = lake_queue
    ingestion.consume(queue_url, wait_seconds=1)  # the test event
    sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")
    # a record announcing a file that is not a track file: the run cannot start
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=json.dumps({"Records": [_record("drives/missing.parquet")]})
    )
    done = ingestion.consume(queue_url, wait_seconds=1)
    assert done.runs == [] and done.deleted == 0
    assert len(done.kept) == 2
    assert any("not JSON" in reason for reason in done.kept)
    assert _waiting(sqs, queue_url) == 2  # back after the visibility timeout, then dead letters
    assert not LandedDrive.objects.exists() and not Run.objects.exists()


@pytest.mark.s3
def test_with_a_queue_the_beat_no_longer_lists_s3(
    watching, lake_queue, s3, tmp_path, settings, django_capture_on_commit_callbacks
):
    sqs, queue_url = lake_queue
    s3.create_bucket(Bucket="quiet")  # no notification: only a listing would find this drive
    table = lake.generate_drive(
        "d", {"scenario": "ccrs", "ego_speed": 30, "initial_gap": 40}, seed=3
    )
    lake.write_tracks(table, tmp_path / "d.parquet")
    s3.put_object(
        Bucket="quiet", Key="drives/d.parquet", Body=(tmp_path / "d.parquet").read_bytes()
    )
    watching.watch_uri = "s3://quiet/drives"
    watching.save()
    settings.SAFECASE_LAKE_QUEUE_URL = queue_url
    assert watch_lake_task() == []
    settings.SAFECASE_LAKE_QUEUE_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        assert len(watch_lake_task()) == 1


@pytest.mark.s3
def test_the_command_consumes_once_and_reports(
    watching, lake_queue, s3, tmp_path, django_capture_on_commit_callbacks
):
    sqs, queue_url = lake_queue
    _upload(s3, tmp_path, "drives/drive-401.parquet", seed=11)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "consume_lake_events",
            "--queue-url",
            queue_url,
            "--wait",
            "1",
            "--once",
            "--json",
            stdout=out,
        )
    report = json.loads(out.getvalue())
    assert len(report["runs"]) == 1 and report["deleted"] == 2 and report["kept"] == []


def test_the_command_needs_a_queue(settings):
    from django.core.management.base import CommandError

    settings.SAFECASE_LAKE_QUEUE_URL = ""
    with pytest.raises(CommandError, match="SAFECASE_LAKE_QUEUE_URL"):
        call_command("consume_lake_events", "--once")


@pytest.mark.s3
def test_an_announced_key_that_climbs_out_of_the_cache_is_refused(
    watching, lake_queue, s3, tmp_path, settings
):
    """A hostile key ``drives/../../escape.parquet``: nothing is fetched or written outside the
    lake cache, no run starts, and the message stays for the dead-letter queue."""
    sqs, queue_url = lake_queue
    ingestion.consume(queue_url, wait_seconds=1)  # the test event
    settings.VAR_DIR = tmp_path / "var"
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps({"Records": [_record("drives/../../escape.parquet")]}),
    )
    done = ingestion.consume(queue_url, wait_seconds=1)
    assert done.runs == [] and done.deleted == 0
    assert any("may not contain '..'" in reason for reason in done.kept), done.kept
    assert not list(tmp_path.rglob("escape.parquet"))
    assert not LandedDrive.objects.exists() and not Run.objects.exists()
