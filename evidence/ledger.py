"""The append-only, per-project evidence log (RFC 9162 Merkle tree, signed checkpoints).

:func:`append` is the one writer of :class:`LogEntry`, :class:`MerkleNode` and
:class:`Checkpoint` rows. Each call is one transaction: the project's :class:`LogHead` row is
locked and checked (it must be the latest checkpoint, signed by a trusted key, and the store
must not hold a longer or different log: see :func:`_check_head`), the records get the next
gapless indexes, the new perfect-subtree hashes and a signed checkpoint are written with the
checkpoint queued for publication, and the queue is published to the store once the
transaction has committed (:mod:`evidence.publication`). Either every record of a batch is in
the log or none is.

The hashing, proofs and note formats come from :mod:`evidence.verify`, the same file that ships
in certification packages, so what Safecase computes and what an assessor checks are one code.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from evidence import verify
from evidence.db import bulk_insert
from evidence.keys import LoadedKey, load_signing_key, log_name
from evidence.models import (
    Checkpoint,
    LogEntry,
    LogHead,
    MerkleNode,
    PendingPublication,
    SigningKey,
)
from evidence.publication import (
    RollbackError,
    StoreView,
    check_not_rolled_back,
    checkpoint_store_key,  # noqa: F401  (its old home)
    look,
    needs_look,
    publish_new,
)
from evidence.signals import checkpoint_committed
from evidence.trust import trusted_signer
from projects.models import Project

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_PREFIX = "https://safecase.dev/evidence/"
EMPTY_ROOT = verify.root_hash([])


class LedgerError(Exception):
    """An append or a proof request that cannot be served; the message says why."""


@dataclass(frozen=True)
class Subject:
    name: str
    sha256: str  # lower-case hex

    def __post_init__(self):
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise LedgerError(f"subject {self.name!r}: sha256 must be 64 lower-case hex digits")


@dataclass(frozen=True)
class Record:
    """What a service asks the ledger to record: a kind, its subjects and a predicate."""

    kind: str
    subjects: Sequence[Subject]
    predicate: dict = field(default_factory=dict)


def predicate_type(kind: str) -> str:
    return f"{PREDICATE_PREFIX}{kind}/v1"


def origin(project: Project) -> str:
    """The checkpoint origin line of a project's log."""
    return f"{log_name()}/{project.key}"


def _statement(project: Project, record: Record, user, recorded_at) -> dict:
    if not record.subjects:
        raise LedgerError(f"a {record.kind} record needs at least one subject")
    predicate = dict(record.predicate)
    predicate["project"] = project.key
    predicate["recordedAt"] = recorded_at.isoformat().replace("+00:00", "Z")
    predicate["recordedBy"] = getattr(user, "username", None)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": s.name, "digest": {"sha256": s.sha256}} for s in record.subjects],
        "predicateType": predicate_type(record.kind),
        "predicate": predicate,
    }


def _envelope(key: LoadedKey, statement: dict) -> bytes:
    payload = verify.canonical_json(statement)
    signature = key.sign(verify.pae(PAYLOAD_TYPE, payload))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key.key_id, "sig": base64.b64encode(signature).decode("ascii")}],
    }
    return verify.canonical_json(envelope)


def register_key(key: LoadedKey) -> SigningKey:
    row = SigningKey.objects.filter(key_id=key.key_id).first()
    if row is None:
        row, _ = SigningKey.objects.get_or_create(
            key_id=key.key_id, defaults={"name": log_name(), "public_key": key.public}
        )
    return row


def _frontier_positions(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees that cover leaves [0, size), left to right."""
    return _split(0, size) if size else []


def _fetch_nodes(project: Project, positions: Iterable[tuple[int, int]]) -> dict:
    """Hashes of perfect subtrees by (level, index), in one round trip.

    Level 0 is the entries' leaf hashes; higher levels are :class:`MerkleNode` rows. The SQL is
    written out (a UNION of indexed lookups: the leaves, then one per tree level) because a
    proof is on the hot path and the ORM would spend longer compiling the query than the
    database spends answering it.
    """
    wanted = set(positions)
    leaves = sorted(ix for lv, ix in wanted if lv == 0)
    nodes = sorted((lv, ix) for lv, ix in wanted if lv)
    parts, params = [], []
    index = connection.ops.quote_name("index")
    if leaves:
        marks = ", ".join(["%s"] * len(leaves))
        parts.append(
            f"SELECT 0, {index}, leaf_hash FROM {LogEntry._meta.db_table} "  # noqa: S608
            f"WHERE project_id = %s AND {index} IN ({marks})"
        )
        params += [project.pk, *leaves]
    # One lookup per tree level, ``level = ? AND index IN (...)``: a long OR of (level, index)
    # pairs makes SQLite's planner scan every node of the project instead of using the
    # (project, level, index) key.
    by_level: dict[int, list[int]] = {}
    for level, ix in nodes:
        by_level.setdefault(level, []).append(ix)
    for level, indexes in sorted(by_level.items()):
        marks = ", ".join(["%s"] * len(indexes))
        parts.append(
            f"SELECT level, {index}, hash FROM {MerkleNode._meta.db_table} "  # noqa: S608
            f"WHERE project_id = %s AND level = %s AND {index} IN ({marks})"
        )
        params += [project.pk, level, *indexes]
    found: dict[tuple[int, int], bytes] = {}
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            found = {(level, ix): bytes(value) for level, ix, value in cursor.fetchall()}
    missing = sorted(wanted - set(found))
    if missing:
        raise LedgerError(f"the log of {project.key} lacks tree nodes {missing[:5]}")
    return found


def _fold(hashes: Sequence[bytes]) -> bytes:
    return verify.fold_subtree_hashes(hashes) if hashes else EMPTY_ROOT


def _split(lo: int, hi: int) -> list[tuple[int, int]]:
    """(level, index) of the aligned perfect subtrees that make up [lo, hi), largest first."""
    pieces = []
    for start, end in verify.perfect_subtrees(lo, hi):
        level = (end - start).bit_length() - 1
        pieces.append((level, start >> level))
    return pieces


def _lock_head(project: Project) -> LogHead:
    """The project's log head, locked until the transaction ends.

    The row lock makes concurrent appenders to one project queue here (on SQLite the IMMEDIATE
    transaction already locks the database), so indexes stay gapless and unique. Written out:
    every other appender waits while the lock is held.
    """
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        f"SELECT id, size, root, frontier FROM {LogHead._meta.db_table} "  # noqa: S608
        f"WHERE project_id = %s{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        row = cursor.fetchone()
        if row is None:
            LogHead.objects.get_or_create(
                project=project, defaults={"size": 0, "root": EMPTY_ROOT, "frontier": b""}
            )
            cursor.execute(sql, [project.pk])
            row = cursor.fetchone()
    head_id, size, root, frontier = row
    return LogHead(
        id=head_id, project=project, size=size, root=bytes(root), frontier=bytes(frontier)
    )


@transaction.atomic
def append(
    project: Project, records: Sequence[Record], *, user=None, fetch: bool = True
) -> list[LogEntry]:
    """Append ``records`` to the project's log in one transaction and sign a checkpoint.

    Raises :class:`LedgerError` or :class:`evidence.keys.SigningKeyError` before anything is
    written when a record is malformed or the signing key is missing. Returns the new entries
    as saved rows; a bulk caller that does not need them passes ``fetch=False`` and gets the
    unsaved instances (same values, no ``pk``), which saves reading a large batch back.
    """
    if not records:
        return []
    key = load_signing_key()
    register_key(key)
    now = timezone.now()
    envelopes = [_envelope(key, _statement(project, r, user, now)) for r in records]
    user_id = user.pk if getattr(user, "pk", None) else None

    view = _look_before_locking(project)
    head = _lock_head(project)
    _check_head(project, head, key.key_id, view)
    size = head.size
    packed = bytes(head.frontier)
    frontier = [packed[i : i + 32] for i in range(0, len(packed), 32)]
    levels = [level for level, _ in _frontier_positions(size)]
    stack = list(zip(levels, frontier, strict=True))

    entries, entry_rows, node_rows = [], [], []
    stamp = connection.ops.adapt_datetimefield_value(now)
    for offset, (record, envelope) in enumerate(zip(records, envelopes, strict=True)):
        index = size + offset
        leaf = verify.leaf_hash(envelope)
        subject = record.subjects[0]
        entry = LogEntry(
            project=project,
            index=index,
            kind=record.kind,
            subject=subject.name[:500],
            digest=subject.sha256,
            envelope=envelope,
            leaf_hash=leaf,
            key_id=key.key_id,
            recorded_at=now,
            recorded_by_id=user_id,
        )
        entries.append(entry)
        entry_rows.append(
            (
                project.pk,
                index,
                entry.kind,
                entry.subject,
                entry.digest,
                envelope,
                leaf,
                key.key_id,
                stamp,
                user_id,
            )
        )
        value, level, position = leaf, 0, index
        while position & 1:
            _, left = stack.pop()
            value = verify.node_hash(left, value)
            level += 1
            position >>= 1
            node_rows.append((project.pk, level, position, value))
        stack.append((level, value))

    if len(entries) <= SMALL_BATCH:
        # A few rows: one INSERT ... RETURNING each gives the ids without reading back and
        # costs fewer round trips (held under the lock) than COPY.
        LogEntry.objects.bulk_create(entries)
        MerkleNode.objects.bulk_create(
            [MerkleNode(project=project, level=lv, index=ix, hash=h) for _, lv, ix, h in node_rows]
        )
        fetch = False
    else:
        bulk_insert(connection, LogEntry._meta.db_table, ENTRY_COLUMNS, entry_rows)
        bulk_insert(connection, MerkleNode._meta.db_table, NODE_COLUMNS, node_rows)
    root = _fold([value for _, value in stack])
    head.size = size + len(records)
    head.root = root
    head.frontier = b"".join(value for _, value in stack)
    head.save(update_fields=["size", "root", "frontier"])
    checkpoint = _sign_checkpoint(project, head.size, root, key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PendingPublication._meta.db_table} "  # noqa: S608
            "(project_id, checkpoint_id, created_at) VALUES (%s, %s, %s)",
            [project.pk, checkpoint.pk, stamp],
        )
    state = (head.size, root, bytes(head.frontier), key.key_id)
    transaction.on_commit(lambda: _after_commit(project, state, checkpoint))
    if fetch:
        return list(LogEntry.objects.filter(project=project, index__gte=size).order_by("index"))
    return entries


SMALL_BATCH = 64
ENTRY_COLUMNS = [
    "project_id",
    "index",
    "kind",
    "subject",
    "digest",
    "envelope",
    "leaf_hash",
    "key_id",
    "recorded_at",
    "recorded_by_id",
]
NODE_COLUMNS = ["project_id", "level", "index", "hash"]


def _sign_checkpoint(project: Project, size: int, root: bytes, key: LoadedKey) -> Checkpoint:
    body = verify.format_checkpoint_body(origin(project), size, root)
    signature = key.sign(body.encode("utf-8"))
    note = verify.format_signed_note(body, [(log_name(), bytes.fromhex(key.key_id), signature)])
    return Checkpoint.objects.create(
        project=project, size=size, root=root, note=note, key_id=key.key_id
    )


# Per process: project id -> (size, root, frontier, signing key id) of a head already checked
# against its latest checkpoint, so that appends in a row check it once.
_checked_heads: dict[int, tuple[int, bytes, bytes, str]] = {}
# Project id -> whether another process had moved the head when this one last appended.
_contended: dict[int, bool] = {}


def _after_commit(
    project: Project, state: tuple[int, bytes, bytes, str], checkpoint: Checkpoint
) -> None:
    """Publish this append's checkpoint, and the project's older queued ones.

    A failure is logged, not raised: the append has committed, and its checkpoint stays queued
    for the next append, the periodic task and ``publish_checkpoints``. Then the checkpoint is
    announced (:data:`evidence.signals.checkpoint_committed`) for the witnesses.
    """
    _checked_heads[project.pk] = state
    publish_new(checkpoint)
    checkpoint_committed.send(sender=Checkpoint, checkpoint=checkpoint)


def _look_before_locking(project: Project) -> StoreView | None:
    """List the store before taking the lock when another process is likely to have moved the
    head since this one last appended (it did last time): the listing then costs no lock time.
    In a process that appends alone, its own publications answer and nothing is listed."""
    last = _checked_heads.get(project.pk)
    if last is None or not _contended.get(project.pk) or not needs_look(project, last[0] + 1):
        return None
    return look(project, last[0])


def _check_head(project: Project, head: LogHead, key_id: str, view=None) -> None:
    """Refuse to extend a log whose head the application did not write, or that the store
    shows was rolled back.

    The head row is derived state that anyone with database access can move; appending after a
    forged head would have the next genuine checkpoint bless the forgery. So the head must equal
    the latest checkpoint, that checkpoint must be signed by a trusted key (never a key merely
    found in the key table), and the frontier must fold to the root. Checked once per head
    state per process: an ordinary append costs no query and no store request here.
    """
    root, frontier = bytes(head.root), bytes(head.frontier)
    state = (head.size, root, frontier, key_id)
    last = _checked_heads.get(project.pk)
    _contended[project.pk] = last is not None and last != state
    if last != state:
        _check_latest_checkpoint(project, head.size, root)
        hashes = [frontier[i : i + 32] for i in range(0, len(frontier), 32)]
        if len(hashes) != len(_frontier_positions(head.size)) or _fold(hashes) != root:
            raise LedgerError(_tampered(project, "its head's frontier does not fold to its root"))
    try:
        check_not_rolled_back(project, head.size, root, view)
    except RollbackError as exc:
        raise LedgerError(str(exc)) from None
    _checked_heads[project.pk] = state


def _check_latest_checkpoint(project: Project, size: int, root: bytes) -> None:
    """The head must be the latest checkpoint, signed by a trusted key."""
    with connection.cursor() as cursor:  # written out: this runs under the log lock
        cursor.execute(
            f"SELECT size, root, note, key_id FROM {Checkpoint._meta.db_table} "  # noqa: S608
            "WHERE project_id = %s ORDER BY size DESC LIMIT 1",
            [project.pk],
        )
        row = cursor.fetchone()
    latest = row and Checkpoint(size=row[0], root=bytes(row[1]), note=row[2], key_id=row[3])
    if latest is None and size == 0:
        return
    if latest is None or latest.size != size or bytes(latest.root) != root:
        found = f"size {latest.size}" if latest else "none"
        raise LedgerError(
            _tampered(project, f"its head (size {size}) is not its latest checkpoint ({found})")
        )
    signer = trusted_signer(latest.key_id)
    if signer is None:
        raise LedgerError(
            _tampered(
                project,
                f"its latest checkpoint (size {size}) is signed by key {latest.key_id}, "
                "which is not trusted",
            )
        )
    try:
        note = verify.verify_checkpoint(latest.note, [signer], origin=origin(project))
    except ValueError as exc:
        raise LedgerError(_tampered(project, f"its latest checkpoint: {exc}")) from None
    if note.size != size or note.root != root:
        raise LedgerError(_tampered(project, "its latest checkpoint disagrees with its note"))


def _tampered(project: Project, what: str) -> str:
    return (
        f"the log of {project.key} was changed outside the application: {what}. "
        "Nothing was appended; run verify_ledger"
    )


def forget_checked_heads() -> None:
    """Drop the per-process record of checked heads (between tests, or after a restore)."""
    _checked_heads.clear()
    _contended.clear()


def head_of(project: Project) -> tuple[int, bytes]:
    head = LogHead.objects.filter(project=project).first()
    return (head.size, bytes(head.root)) if head else (0, EMPTY_ROOT)


def latest_checkpoint(project: Project) -> Checkpoint | None:
    return Checkpoint.objects.filter(project=project).order_by("-size").first()


def _prove(project: Project, build) -> list[bytes]:
    """Run a proof builder twice: once to learn which subtrees it needs, once with their hashes.

    The shape of an RFC 9162 proof depends only on the index and sizes, so the first pass (with
    placeholder hashes) lists every range; one query per tree level then fetches them all.
    """
    wanted: list[tuple[int, int]] = []

    def record(lo: int, hi: int) -> bytes:
        wanted.append((lo, hi))
        return EMPTY_ROOT

    build(record)
    pieces = {rng: _split(*rng) for rng in wanted}
    nodes = _fetch_nodes(project, {p for ps in pieces.values() for p in ps})

    def subtree_hash(lo: int, hi: int) -> bytes:
        return _fold([nodes[p] for p in pieces.get((lo, hi)) or _split(lo, hi)])

    return build(subtree_hash)


def inclusion_proof(project: Project, index: int, size: int) -> list[bytes]:
    current, _ = head_of(project)
    if not 0 < size <= current:
        raise LedgerError(f"tree size must be between 1 and {current}; got {size}")
    if not 0 <= index < size:
        raise LedgerError(f"entry index must be between 0 and {size - 1}; got {index}")
    return _prove(project, lambda sub: verify.inclusion_proof(index, size, sub))


def consistency_proof(
    project: Project, size1: int, size2: int, *, current: int | None = None
) -> list[bytes]:
    """The RFC 9162 proof that the log at ``size2`` extends the log at ``size1``. A caller that
    knows the log has at least ``current`` entries (it holds a checkpoint of that size) passes
    it, which saves reading the head."""
    if current is None:
        current, _ = head_of(project)
    if not 0 < size2 <= current:
        raise LedgerError(f"second size must be between 1 and {current}; got {size2}")
    if not 0 < size1 <= size2:
        raise LedgerError(f"first size must be between 1 and {size2}; got {size1}")
    return _prove(project, lambda sub: verify.consistency_proof(size1, size2, sub))


def root_at(project: Project, size: int) -> bytes:
    """The root of the first ``size`` entries, from stored nodes."""
    current, root = head_of(project)
    if not 0 <= size <= current:
        raise LedgerError(f"size must be between 0 and {current}; got {size}")
    if size == current:
        return root
    positions = _frontier_positions(size)
    nodes = _fetch_nodes(project, positions)
    return _fold([nodes[p] for p in positions])
