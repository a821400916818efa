"""What a witness remembers: for each log, the latest checkpoint it cosigned.

One small JSON file per log origin under ``<state>/logs/``, replaced atomically (written to a
temporary file, flushed to disk, renamed over the old one, the folder flushed), so a crash
leaves the old record or the new one, never a torn file. Checking the old size against the
record and writing the new record happen under one lock per origin, as the protocol requires:
otherwise two concurrent requests could roll the record back. A lock file held for the life of
the process stops a second witness from serving the same state.

Requests that prove the log misbehaved (a different root at a size already cosigned, a
consistency proof that fails, with a valid log signature) are appended to
``<state>/evidence.jsonl``: they are what the witness's operator shows to the others.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path


class StateError(Exception):
    """The state folder cannot be used (locked by another witness, unreadable)."""


@dataclass(frozen=True)
class Latest:
    size: int
    root: bytes
    note: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class State:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.logs = self.folder / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.folder / "lock", "a+b")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StateError("another witness is serving this state folder") from None
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, Latest | None] = {}

    def close(self) -> None:
        self._lock_file.close()

    def lock(self, origin: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(origin, threading.Lock())

    def _path(self, origin: str) -> Path:
        return self.logs / (hashlib.sha256(origin.encode()).hexdigest() + ".json")

    def latest(self, origin: str) -> Latest | None:
        """The latest cosigned checkpoint of ``origin``; call with its lock held."""
        if origin in self._cache:
            return self._cache[origin]
        try:
            record = json.loads(self._path(origin).read_bytes())
        except FileNotFoundError:
            found = None
        except (OSError, ValueError) as exc:
            raise StateError(f"the record of {origin} cannot be read: {exc}") from exc
        else:
            if record.get("origin") != origin:
                raise StateError(f"the record of {origin} names another log")
            found = Latest(record["size"], bytes.fromhex(record["root"]), record["note"])
        self._cache[origin] = found
        return found

    def record(self, origin: str, latest: Latest) -> None:
        """Persist ``latest`` for ``origin`` (durably) before the cosignature is returned."""
        data = {"origin": origin, "size": latest.size, "root": latest.root.hex()}
        data["note"] = latest.note
        write_atomically(self._path(origin), json.dumps(data, sort_keys=True).encode())
        self._cache[origin] = latest

    def keep_evidence(self, origin: str, why: str, request: bytes) -> None:
        line = {"at": int(time.time()), "origin": origin, "why": why}
        line["request"] = request.decode("utf-8", "replace")
        with self._guard, open(self.folder / "evidence.jsonl", "ab") as handle:
            handle.write(json.dumps(line, sort_keys=True).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
