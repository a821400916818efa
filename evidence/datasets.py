"""Snapshots of datasets (a folder or an S3 prefix) as manifests with a Merkle root.

Every object is hashed by Safecase itself (SHA-256, both cores: hashlib releases the GIL on
large buffers, so threads hash in parallel). S3's own SHA-256 checksum, when the object has
one, is recorded beside ours but never trusted: a server can accept a wrong checksum.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from evidence import aws, verify

CHUNK = 1 << 20
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class DatasetError(Exception):
    """The dataset cannot be read; the message says where and why."""


@dataclass(frozen=True)
class ObjectRecord:
    key: str
    size: int
    sha256: str
    version_id: str | None = None
    s3_checksum_sha256: str | None = None

    def as_json(self) -> dict:
        data = {"key": self.key, "size": self.size, "sha256": self.sha256}
        if self.version_id:
            data["versionId"] = self.version_id
        if self.s3_checksum_sha256:
            data["s3ChecksumSha256"] = self.s3_checksum_sha256
        return data


@dataclass(frozen=True)
class Manifest:
    uri: str
    objects: list[ObjectRecord]

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)

    def merkle_root(self) -> str:
        """RFC 9162 root over the canonical JSON of each object record, in key order."""
        leaves = [verify.leaf_hash(verify.canonical_json(o.as_json())) for o in self.objects]
        return verify.root_hash(leaves).hex()

    def to_bytes(self) -> bytes:
        return verify.canonical_json(
            {
                "uri": self.uri,
                "objects": [o.as_json() for o in self.objects],
                "merkleRoot": self.merkle_root(),
            }
        )


def _hash_file(path: Path, tick: Callable[[int], None]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            n = handle.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
            tick(n)
    return digest.hexdigest()


class _Counter:
    def __init__(self, total: int, progress: Progress | None):
        self.done, self.total, self.progress = 0, total, progress

    def __call__(self, n: int) -> None:
        self.done += n  # a lost update under threads only makes the progress line approximate
        if self.progress:
            self.progress(self.done, self.total)


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def snapshot_folder(root: Path, progress: Progress | None = None) -> Manifest:
    if not root.exists():
        raise DatasetError(f"dataset path {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"dataset path {root} is not a folder")
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and not p.is_symlink()),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    sizes = [p.stat().st_size for p in files]
    counter = _Counter(sum(sizes), progress)
    try:
        with ThreadPoolExecutor(max_workers=_workers()) as pool:
            digests = list(pool.map(lambda p: _hash_file(p, counter), files))
    except OSError as exc:
        raise DatasetError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    objects = [
        ObjectRecord(key=p.relative_to(root).as_posix(), size=s, sha256=d)
        for p, s, d in zip(files, sizes, digests, strict=True)
    ]
    return Manifest(uri=root.as_uri(), objects=objects)


def _s3_objects(client, bucket: str, prefix: str) -> Iterator[dict]:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def snapshot_s3(uri: str, progress: Progress | None = None, client=None) -> Manifest:
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    if not bucket:
        raise DatasetError(f"{uri}: an s3:// URI needs a bucket")
    client = client or aws.client("s3")
    try:
        listing = sorted(_s3_objects(client, bucket, prefix), key=lambda o: o["Key"])
    except (ClientError, BotoCoreError) as exc:
        raise DatasetError(f"cannot list {uri}: {exc}") from exc
    if not listing:
        raise DatasetError(f"{uri} holds no objects")
    counter = _Counter(sum(o["Size"] for o in listing), progress)

    def fetch(item: dict) -> ObjectRecord:
        response = client.get_object(Bucket=bucket, Key=item["Key"], ChecksumMode="ENABLED")
        digest = hashlib.sha256()
        for chunk in response["Body"].iter_chunks(CHUNK):
            digest.update(chunk)
            counter(len(chunk))
        theirs = response.get("ChecksumSHA256")
        if theirs and "-" not in theirs:
            theirs = base64.b64decode(theirs).hex()
        key = item["Key"][len(prefix) :].lstrip("/") if prefix else item["Key"]
        return ObjectRecord(
            key=key,
            size=item["Size"],
            sha256=digest.hexdigest(),
            version_id=response.get("VersionId") if response.get("VersionId") != "null" else None,
            s3_checksum_sha256=theirs,
        )

    try:
        with ThreadPoolExecutor(max_workers=_workers()) as pool:
            objects = list(pool.map(fetch, listing))
    except (ClientError, BotoCoreError) as exc:
        raise DatasetError(f"cannot read {uri}: {exc}") from exc
    return Manifest(uri=uri, objects=objects)


def snapshot(uri: str, progress: Progress | None = None) -> Manifest:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return snapshot_folder(Path(unquote(parsed.path)), progress)
    if parsed.scheme == "s3":
        return snapshot_s3(uri, progress)
    raise DatasetError(f"unsupported dataset URI {uri!r}: use file:///path or s3://bucket/prefix")


def file_digest(uri: str) -> tuple[str, int]:
    """SHA-256 and size of one file (``file://`` or a path) or S3 object (a model artifact)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise DatasetError(f"model file {path} does not exist")
        return _hash_file(path, lambda n: None), path.stat().st_size
    if parsed.scheme == "s3":
        manifest = snapshot_s3(uri)
        if len(manifest.objects) != 1:
            raise DatasetError(f"{uri} must name exactly one object")
        return manifest.objects[0].sha256, manifest.objects[0].size
    raise DatasetError(f"unsupported model URI {uri!r}")
