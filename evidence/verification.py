"""Recompute a project's log and compare it with every checkpoint, in the database and outside.

This is what ``manage.py verify_ledger`` runs. It trusts nothing stored: each leaf hash is
recomputed from the envelope bytes, the root is rebuilt while streaming, every checkpoint's
signature is checked against the registered keys, and the roots are compared with the
checkpoints published to the store, so that a database rewritten consistently (entries, nodes
and checkpoints together) is still caught by the copies it could not reach.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from django.db import connection

from evidence import verify
from evidence.ledger import EMPTY_ROOT, checkpoint_store_key, origin
from evidence.models import Checkpoint, LogEntry, LogHead, SigningKey
from evidence.storage import StorageError, default_store
from projects.models import Project

CHUNK = 50_000


@dataclass
class VerifyResult:
    project: str
    entries: int = 0
    checkpoints: int = 0
    published: int = 0
    unpublished: int = 0
    signatures_checked: int = 0
    first_bad_index: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str, index: int | None = None) -> None:
        self.problems.append(message)
        if index is not None and (self.first_bad_index is None or index < self.first_bad_index):
            self.first_bad_index = index


def _trusted_keys() -> tuple[list[tuple[str, bytes]], dict[str, bytes]]:
    rows = list(SigningKey.objects.all())
    return [(k.name, bytes(k.public_key)) for k in rows], {
        k.key_id: bytes(k.public_key) for k in rows
    }


def _published(project: Project, result: VerifyResult, keys) -> dict[int, bytes]:
    """Roots of the checkpoints published to the store, by size (each signature checked)."""
    roots: dict[int, bytes] = {}
    store = default_store()
    prefix = checkpoint_store_key(project.key, 0).rsplit("/", 1)[0]
    try:
        for item in store.list(prefix):
            text = store.get_bytes(item.key)
            try:
                note = verify.verify_checkpoint(text, keys, origin=origin(project))
            except ValueError as exc:
                result.fail(f"published checkpoint {item.key}: {exc}")
                continue
            roots[note.size] = note.root
    except StorageError as exc:
        result.fail(f"published checkpoints cannot be read: {exc}")
    return roots


def verify_project(project: Project, *, signatures: bool = False) -> VerifyResult:
    result = VerifyResult(project=project.key)
    keys, keys_by_id = _trusted_keys()
    head = LogHead.objects.filter(project=project).first()
    head_size, head_root = (head.size, bytes(head.root)) if head else (0, EMPTY_ROOT)

    # Checkpoints in the database: signature, and that the columns say what the note says.
    expected: dict[int, bytes] = {}
    for cp in Checkpoint.objects.filter(project=project).order_by("size").iterator():
        result.checkpoints += 1
        try:
            note = verify.verify_checkpoint(cp.note, keys, origin=origin(project))
        except ValueError as exc:
            result.fail(f"checkpoint at size {cp.size}: {exc}", min(cp.size, head_size))
            continue
        if note.size != cp.size or note.root != bytes(cp.root):
            result.fail(f"checkpoint at size {cp.size} disagrees with its own signed note")
        expected[note.size] = note.root

    published = _published(project, result, keys)
    result.published = len(published)
    result.unpublished = len(set(expected) - set(published))
    for size, root in published.items():
        if size in expected and expected[size] != root:
            result.fail(f"checkpoint at size {size} differs from the copy published to the store")
        if size > head_size:
            result.fail(
                f"the store holds a checkpoint at size {size} but the log has only {head_size} "
                "entries: entries were removed",
                head_size,
            )
        expected[size] = root  # the published copy is the one the database cannot rewrite

    # Stream every entry: gapless indexes, leaf hashes, roots at each checkpoint size.
    stack: list[bytes] = []  # hashes of the perfect subtrees so far, left to right
    last_good_size = 0
    count = 0
    rows = _stream_entries(project)
    sha256 = hashlib.sha256
    for index, envelope, stored_leaf in rows:
        if index != count:
            result.fail(f"entry {count} is missing (next stored index is {index})", count)
            break
        if type(envelope) is not bytes:
            envelope, stored_leaf = bytes(envelope), bytes(stored_leaf)
        leaf = sha256(b"\x00" + envelope).digest()
        if leaf != stored_leaf:
            result.fail(f"entry {index}: stored leaf hash does not match its content", index)
        if signatures:
            result.signatures_checked += 1
            if not _signature_ok(envelope, keys_by_id):
                result.fail(f"entry {index}: envelope signature does not verify", index)
        # Leaf number ``index`` completes one perfect subtree per trailing 1 bit of ``index``.
        value = leaf
        for _ in range((~index & (index + 1)).bit_length() - 1):
            value = sha256(b"\x01" + stack.pop() + value).digest()
        stack.append(value)
        count += 1
        if count in expected:
            if result.first_bad_index is not None:
                pass  # a leaf already failed: later roots differ because of it
            elif _root(stack) != expected[count]:
                result.fail(
                    f"root at size {count} does not match its signed checkpoint: an entry at or "
                    f"after index {last_good_size} was changed",
                    last_good_size,
                )
            else:
                last_good_size = count
    result.entries = count
    if count != head_size and result.first_bad_index is None:
        result.fail(f"the log head says {head_size} entries but {count} are stored", count)
    elif count == head_size and _root(stack) != head_root and result.first_bad_index is None:
        result.fail("the log head's root does not match the entries", last_good_size)
    return result


def _stream_entries(project: Project):
    """(index, envelope, leaf hash) in index order, streamed without holding the log in memory.

    PostgreSQL streams with ``COPY ... TO STDOUT (FORMAT BINARY)``: bytea travels as raw bytes
    and rows arrive as the server produces them. SQLite's cursor already iterates lazily.
    """
    table = LogEntry._meta.db_table
    index = connection.ops.quote_name("index")
    query = (
        f"SELECT {index}, envelope, leaf_hash FROM {table} "  # noqa: S608 (names from metadata)
        f"WHERE project_id = %s ORDER BY {index}"
    )
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        raw = connection.connection
        with raw.cursor() as cursor:
            copy_sql = f"COPY ({query % int(project.pk)}) TO STDOUT (FORMAT BINARY)"
            with cursor.copy(copy_sql) as copy:
                copy.set_types(["int8", "bytea", "bytea"])
                yield from copy.rows()
        return
    with connection.cursor() as cursor:
        cursor.execute(query, [project.pk])
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


def _root(stack: list[bytes]) -> bytes:
    return verify.fold_subtree_hashes(stack) if stack else EMPTY_ROOT


def _signature_ok(envelope: bytes, keys_by_id: dict[str, bytes]) -> bool:
    try:
        parsed = json.loads(envelope)
    except ValueError:
        return False
    return isinstance(parsed, dict) and verify.verify_envelope(parsed, keys_by_id)
