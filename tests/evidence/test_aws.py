"""The one boto3 client factory, and every user of boto3 taking its clients from it."""

from __future__ import annotations

import os

import pytest

from evidence import aws
from evidence.datasets import snapshot_s3
from evidence.storage import S3Store, StorageError
from validation.execution.sagemaker import SageMakerExecutor


@pytest.fixture
def region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)


def test_clients_get_the_timeouts_and_retries(region):
    config = aws.client("s3").meta.config
    assert (config.connect_timeout, config.read_timeout) == (5, 60)
    assert config.retries["total_max_attempts"] == aws.MAX_ATTEMPTS + 1


def test_endpoint_and_attempts_configured_outside_the_code_are_honoured(region, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    client = aws.client("sagemaker", region="eu-central-1")
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "eu-central-1"
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.config.connect_timeout == 5


@pytest.mark.s3
def test_every_boto3_user_builds_its_clients_here(s3, s3_endpoint, monkeypatch):
    built = []
    factory = aws.client

    def spy(service, **kwargs):
        client = factory(service, **kwargs)
        built.append((service, client.meta.endpoint_url))
        return client

    monkeypatch.setattr(aws, "client", spy)
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="d/a.bin", Body=b"payload")

    store = S3Store("lake", "store")
    store.client.put_object(Bucket="lake", Key="store/x", Body=b"x")
    assert snapshot_s3("s3://lake/d").objects[0].size == len(b"payload")
    executor = SageMakerExecutor(bucket="lake", role="r", region="us-east-1")
    assert executor.s3_client.get_object(Bucket="lake", Key="store/x")["Body"].read() == b"x"
    assert built == [("s3", s3_endpoint)] * 3


def test_clients_are_shared_until_the_environment_changes(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    first = aws.client("s3")
    assert aws.client("s3") is first  # built once: a session and a model cost most of a second
    assert aws.client("sqs") is not first
    assert aws.client("s3", region="eu-central-1") is not first
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:10")
    moved = aws.client("s3")
    assert moved is not first and moved.meta.endpoint_url == "http://127.0.0.1:10"
    # a caller's own session always gets its own client
    assert aws.client("s3", session=aws.new_session()) is not moved


@pytest.mark.s3
def test_a_large_object_is_streamed_to_its_file_in_parts(s3, tmp_path):
    """Bigger than the managed transfer's part size: fetched in ranged parts, whole and exact."""
    import hashlib

    s3.create_bucket(Bucket="lake")
    payload = os.urandom(9 * 1024 * 1024) + b"tail"
    s3.put_object(Bucket="lake", Key="drives/d1.parquet", Body=payload)
    target = tmp_path / "cache" / "drives" / "d1.parquet"

    S3Store("lake", "").download_to("drives/d1.parquet", target)

    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert [p.name for p in target.parent.iterdir()] == ["d1.parquet"]  # no part file left


@pytest.mark.s3
def test_a_failed_download_leaves_no_file_and_names_the_store(s3, tmp_path):
    s3.create_bucket(Bucket="lake")
    target = tmp_path / "cache" / "gone.parquet"

    with pytest.raises(StorageError, match="S3 get on s3://lake/drives failed"):
        S3Store("lake", "drives").download_to("gone.parquet", target)
    assert list(target.parent.iterdir()) == []


def test_a_key_that_climbs_out_is_refused_before_anything_is_made(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    target = tmp_path / "cache" / "x.parquet"
    with pytest.raises(StorageError, match="may not contain"):
        S3Store("lake", "").download_to("../../x.parquet", target)
    assert not (tmp_path / "cache").exists()


@pytest.mark.s3
def test_the_same_drive_announced_twice_and_fetched_at_once_lands_whole(s3, tmp_path):
    """S3 notifications arrive at least once: two workers may fetch one drive together."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    s3.create_bucket(Bucket="lake")
    payload = os.urandom(9 * 1024 * 1024)
    s3.put_object(Bucket="lake", Key="drives/d1.parquet", Body=payload)
    target = tmp_path / "cache" / "drives" / "d1.parquet"

    with ThreadPoolExecutor(2) as pool:
        fetches = [pool.submit(S3Store("lake", "").download_to, "drives/d1.parquet", target)]
        fetches.append(pool.submit(S3Store("lake", "").download_to, "drives/d1.parquet", target))
        for fetch in fetches:
            fetch.result()

    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert [p.name for p in target.parent.iterdir()] == ["d1.parquet"]
