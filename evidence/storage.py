"""The object store behind artifacts, dataset manifests and published checkpoints.

``SAFECASE_STORAGE_URL`` picks the backend: ``file:///path`` (the embedded default, under
``var/store``) or ``s3://bucket/prefix`` (S3 or any S3-compatible server; the client comes from
:mod:`evidence.aws`, so boto3 reads ``AWS_ENDPOINT_URL`` and the usual credentials). Keys are
relative POSIX paths; a key that would leave the store's root is refused.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from django.conf import settings

from evidence import aws


class StorageError(Exception):
    """The store cannot be reached or refused an operation; the message says which."""


class ConflictError(StorageError):
    """An object that is never replaced exists with other content."""


def _clean_key(key: str) -> str:
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise StorageError(
            f"invalid storage key {key!r}: keys are relative and may not contain '..'"
        )
    return str(path)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    version_id: str | None = None
    checksum_sha256: str | None = None


class FileStore:
    """A folder on the local filesystem."""

    def __init__(self, root: Path):
        self.root = root
        self.url = root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / _clean_key(key)

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not overwrite and path.exists():
                if path.read_bytes() == data:
                    return
                raise ConflictError(
                    f"{self.url}/{key} exists with other content; it is never replaced"
                )
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write {self.url}/{key}: {exc.strerror}") from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"{self.url}/{key} does not exist") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {self.url}/{key}: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def _require_root(self) -> None:
        """A store whose root folder is missing is unreachable, not empty: listing it must not
        report "nothing published" when the URL points at the wrong place."""
        if not self.root.is_dir():
            raise StorageError(f"{self.url} does not exist or is not a folder")

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        self._require_root()
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return
        for path in sorted(
            p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        ):
            yield StoredObject(key=path.relative_to(self.root).as_posix(), size=path.stat().st_size)

    def keys_after(self, folder: str, start_after: str, limit: int) -> list[str]:
        """Up to ``limit`` keys directly in ``folder`` that sort after ``start_after``, in order.

        One directory read; the ledger's rollback check asks it before each append. A missing
        folder holds nothing (a new store: the first publication creates it); :meth:`list`, which
        ``verify_ledger`` uses, refuses a missing root instead.
        """
        base = self._path(folder)
        prefix = f"{folder}/"
        if start_after.startswith(prefix):
            after = start_after[len(prefix) :]
        else:  # the whole folder sorts after start_after, or none of it does
            after = "" if prefix > start_after else "\U0010ffff"
        try:
            names = [n for n in os.listdir(base) if n > after and n[0] != "."]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"cannot list {self.url}/{folder}: {exc.strerror}") from exc
        return [prefix + name for name in sorted(names)[:limit]]

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {self.root}: {exc.strerror}") from exc
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not writable")


class S3Store:
    """A bucket and prefix on S3 or an S3-compatible server."""

    def __init__(self, bucket: str, prefix: str):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.client = aws.client("s3")
        self._lock_days: int | None = None

    def _key(self, key: str) -> str:
        key = _clean_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise StorageError(f"S3 {what} on {self.url} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 {what} on {self.url} failed: {exc}") from exc

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> None:
        import base64
        import hashlib

        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        kwargs = {
            "Key": self._key(key),
            "Body": data,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": digest,
        }
        if not overwrite:
            if self.exists(key):
                if self.get_bytes(key) == data:
                    return
                raise ConflictError(
                    f"{self.url}/{key} exists with other content; it is never replaced"
                )
        days = self.retention_days()
        if days:
            import datetime

            kwargs["ObjectLockMode"] = "COMPLIANCE"
            kwargs["ObjectLockRetainUntilDate"] = datetime.datetime.now(
                datetime.UTC
            ) + datetime.timedelta(days=days)
        self._call("put", self.client.put_object, **kwargs)

    def retention_days(self) -> int:
        """Days of COMPLIANCE-mode retention for new objects: 0 unless the bucket has Object
        Lock enabled; then ``SAFECASE_RETENTION_DAYS`` (default 3650), so not even the
        account that wrote evidence can delete or overwrite it before then."""
        if self._lock_days is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                config = self.client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
            except (ClientError, BotoCoreError):
                enabled = None
            self._lock_days = (
                getattr(settings, "SAFECASE_RETENTION_DAYS", 3650) if enabled == "Enabled" else 0
            )
        return self._lock_days

    def get_bytes(self, key: str) -> bytes:
        response = self._call("get", self.client.get_object, Key=self._key(key))
        return response["Body"].read()

    def download_to(self, key: str, target: Path) -> None:
        """Stream the object at ``key`` into the file ``target`` in parts (boto3's managed
        transfer), never holding it whole in memory. The transfer writes a temporary file of a
        name of its own and renames it only when complete (removing it on failure), so a failed
        or concurrent download never leaves a partial file under ``target``'s name."""
        from boto3.exceptions import Boto3Error

        full = self._key(key)  # refuses a key that climbs out before anything is made
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._call("get", self.client.download_file, Key=full, Filename=str(target))
        except Boto3Error as exc:  # the managed transfer's own failures (retries spent)
            raise StorageError(f"S3 get on {self.url} failed: {exc}") from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise StorageError(f"S3 head on {self.url}/{key} failed") from exc
        return True

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        full = self._key(prefix) if prefix else self.prefix
        paginator = self.client.get_paginator("list_objects_v2")
        skip = len(self.prefix) + 1 if self.prefix else 0
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    yield StoredObject(key=item["Key"][skip:], size=item["Size"])
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 list on {self.url} failed: {exc}") from exc

    def keys_after(self, folder: str, start_after: str, limit: int) -> list[str]:
        """Up to ``limit`` keys under ``folder`` that sort after ``start_after``: one request."""
        skip = len(self.prefix) + 1 if self.prefix else 0
        response = self._call(
            "list",
            self.client.list_objects_v2,
            Prefix=self._key(folder) + "/",
            StartAfter=self._key(start_after),
            MaxKeys=limit,
        )
        return [item["Key"][skip:] for item in response.get("Contents", [])]

    def check(self) -> None:
        self._call("head_bucket", self.client.head_bucket)


def open_store(url: str) -> FileStore | S3Store:
    """Open the store named by a ``file://`` or ``s3://`` URL."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileStore(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StorageError(f"{url}: an s3:// URL needs a bucket name")
        return S3Store(parsed.netloc, parsed.path)
    raise StorageError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")


def default_store() -> FileStore | S3Store:
    return open_store(settings.SAFECASE_STORAGE_URL)
