"""What a witness remembers: for each log, the latest checkpoint it cosigned.

The record is an append-only journal (``<state>/journal.jsonl``, one JSON line per cosigned
checkpoint) and a snapshot (``<state>/latest.json``). A cosignature is returned only after its
journal line is on disk (``fdatasync``); concurrent requests for different logs share one flush
(group commit), so many logs cost little more than one. When the witness starts, it reads the
snapshot, replays the journal over it (a last line torn by a crash is ignored: its request was
never answered), writes a new snapshot atomically (temporary file, flush, rename, flush of the
folder) and only then empties the journal.

Checking the old size against the record and recording the new checkpoint happen under one
lock per log, as the protocol requires: otherwise two concurrent requests could roll the record
back. A lock file held for the life of the process stops a second witness from serving the same
state.

Requests that prove the log misbehaved (a different root at a size already cosigned, a
consistency proof that fails, with a valid log signature) are appended to
``<state>/evidence.jsonl``: they are what the witness's operator shows to the others.
"""

from __future__ import annotations

import fcntl
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
    """Replace ``path`` by ``data``: a reader, or a crash, sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _record(origin: str, latest: Latest) -> dict:
    return {"origin": origin, "size": latest.size, "root": latest.root.hex(), "note": latest.note}


def _latest(record: dict) -> Latest:
    return Latest(int(record["size"]), bytes.fromhex(record["root"]), str(record["note"]))


class State:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.folder / "lock", "a+b")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StateError("another witness is serving this state folder") from None
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        try:
            self._latest = self._load()
        except BaseException:
            self._lock_file.close()
            raise
        self._journal = os.open(
            self.folder / "journal.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0  # bytes appended to the journal by this process
        self._synced = 0  # of which known to be on disk

    def _load(self) -> dict[str, Latest]:
        """The snapshot with the journal replayed over it; then a new snapshot, and an empty
        journal."""
        snapshot, journal = self.folder / "latest.json", self.folder / "journal.jsonl"
        latest: dict[str, Latest] = {}
        try:
            if snapshot.exists():
                for record in json.loads(snapshot.read_bytes()):
                    latest[record["origin"]] = _latest(record)
            if journal.exists():
                data = journal.read_bytes()
                lines = data.split(b"\n")
                for number, line in enumerate(lines[:-1], start=1):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        raise StateError(f"journal line {number} cannot be read") from None
                    latest[record["origin"]] = _latest(record)
                # lines[-1] is empty, or a line torn by a crash before it was answered.
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"the witness state cannot be read: {exc}") from exc
        records = [_record(origin, value) for origin, value in sorted(latest.items())]
        write_atomically(snapshot, json.dumps(records, sort_keys=True).encode())
        if journal.exists():
            fd = os.open(journal, os.O_WRONLY)
            try:
                os.ftruncate(fd, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        return latest

    def close(self) -> None:
        os.close(self._journal)
        self._lock_file.close()

    def lock(self, origin: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(origin, threading.Lock())

    def latest(self, origin: str) -> Latest | None:
        """The latest cosigned checkpoint of ``origin``; call with its lock held."""
        return self._latest.get(origin)

    def record(self, origin: str, latest: Latest) -> None:
        """Persist ``latest`` for ``origin`` (on disk when this returns); call with its lock."""
        line = json.dumps(_record(origin, latest), sort_keys=True).encode() + b"\n"
        with self._write_lock:
            os.write(self._journal, line)
            self._written += len(line)
            mine = self._written
        with self._sync_lock:  # group commit: one flush covers every line written before it
            if self._synced < mine:
                with self._write_lock:
                    target = self._written
                os.fdatasync(self._journal)
                self._synced = target
        self._latest[origin] = latest

    def keep_evidence(self, origin: str, why: str, request: bytes) -> None:
        line = {"at": int(time.time()), "origin": origin, "why": why}
        line["request"] = request.decode("utf-8", "replace")
        with self._guard, open(self.folder / "evidence.jsonl", "ab") as handle:
            handle.write(json.dumps(line, sort_keys=True).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
