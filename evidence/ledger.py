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
import datetime
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
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
    QueuedEntry,
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

logger = logging.getLogger(__name__)


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
    """The in-toto statement of ``record``; ``recorded_at`` is a datetime or its text."""
    if not record.subjects:
        raise LedgerError(f"a {record.kind} record needs at least one subject")
    predicate = dict(record.predicate)
    predicate["project"] = project.key
    if not isinstance(recorded_at, str):
        recorded_at = _timestamp(recorded_at)
    predicate["recordedAt"] = recorded_at
    predicate["recordedBy"] = getattr(user, "username", None)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": s.name, "digest": {"sha256": s.sha256}} for s in record.subjects],
        "predicateType": predicate_type(record.kind),
        "predicate": predicate,
    }


def _timestamp(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _envelope(key: LoadedKey, statement: dict) -> bytes:
    """The DSSE envelope of ``statement``, signed, as canonical JSON.

    Its members are fixed and their values base64 or hex, which JSON never escapes, so the
    canonical form is written directly (what :func:`evidence.verify.canonical_json` of the
    same object gives, byte for byte, at a fraction of the cost for a large batch).
    """
    payload = verify.canonical_json(statement)
    signature = key.sign(verify.pae(PAYLOAD_TYPE, payload))
    return b"".join(
        (
            b'{"payload":"',
            base64.b64encode(payload),
            b'","payloadType":"' + PAYLOAD_TYPE.encode("ascii") + b'","signatures":[{"keyid":"',
            key.key_id.encode("ascii"),
            b'","sig":"',
            base64.b64encode(signature),
            b'"}]}',
        )
    )


def register_key(key: LoadedKey) -> SigningKey:
    row = SigningKey.objects.filter(key_id=key.key_id).first()
    if row is None:
        row, _ = SigningKey.objects.get_or_create(
            key_id=key.key_id, defaults={"name": log_name(), "public_key": key.public}
        )
    return row


# Key ids this process has seen in the key table (rows are never removed): an append in a row
# then costs no query for its key.
_registered: set[str] = set()


def _ensure_registered(key: LoadedKey) -> None:
    if key.key_id not in _registered:
        register_key(key)
        transaction.on_commit(lambda: _registered.add(key.key_id))


def _frontier_positions(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees that cover leaves [0, size), left to right."""
    return _split(0, size) if size else []


def _fetch_nodes(project: Project, positions: Iterable[tuple[int, int]]) -> dict:
    """Hashes of perfect subtrees by (level, index), in one round trip."""
    found, _ = _fetch(project, positions)
    return found


def _fetch(
    project: Project, positions: Iterable[tuple[int, int]], *, head: bool = False
) -> tuple[dict, int | None]:
    """Hashes of perfect subtrees by (level, index), and with ``head`` the log's size, in one
    round trip. Raises :class:`LedgerError` for a missing node when the log is long enough.

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
    if head:
        parts.append(f"SELECT -1, size, root FROM {LogHead._meta.db_table} WHERE project_id = %s")  # noqa: S608
        params.append(project.pk)
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
    current = None
    if head:
        current = next((ix for level, ix in found if level == -1), 0)
    missing = sorted(wanted - set(found))
    if missing and (current is None or max(hi for _, hi in _ranges(missing)) <= current):
        raise LedgerError(f"the log of {project.key} lacks tree nodes {missing[:5]}")
    return found, current


def _ranges(positions: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The leaf ranges [lo, hi) of perfect subtrees given as (level, index)."""
    return [(ix << level, (ix + 1) << level) for level, ix in positions]


def _fold(hashes: Sequence[bytes]) -> bytes:
    return verify.fold_subtree_hashes(hashes) if hashes else EMPTY_ROOT


def _split(lo: int, hi: int) -> list[tuple[int, int]]:
    """(level, index) of the aligned perfect subtrees that make up [lo, hi), largest first."""
    pieces = []
    for start, end in verify.perfect_subtrees(lo, hi):
        level = (end - start).bit_length() - 1
        pieces.append((level, start >> level))
    return pieces


def _lock_head(project: Project, *, skip_locked: bool = False) -> LogHead | None:
    """The project's log head, locked until the transaction ends.

    The row lock makes concurrent appenders to one project queue here (on SQLite the IMMEDIATE
    transaction already locks the database), so indexes stay gapless and unique. Written out:
    every other appender waits while the lock is held. ``skip_locked``: None instead of
    waiting when another transaction holds the lock.
    """
    lock = ""
    if connection.features.has_select_for_update:
        lock = " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"
    sql = (
        f"SELECT id, size, root, frontier FROM {LogHead._meta.db_table} "  # noqa: S608
        f"WHERE project_id = %s{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk])
        row = cursor.fetchone()
        if row is None:
            if skip_locked and LogHead.objects.filter(project=project).exists():
                return None
            LogHead.objects.get_or_create(
                project=project, defaults={"size": 0, "root": EMPTY_ROOT, "frontier": b""}
            )
            cursor.execute(sql, [project.pk])
            row = cursor.fetchone()
    if row is None:
        return None
    head_id, size, root, frontier = row
    return LogHead(
        id=head_id, project=project, size=size, root=bytes(root), frontier=bytes(frontier)
    )


def integration_interval() -> datetime.timedelta | None:
    """The integration interval (``SAFECASE_LEDGER_INTEGRATION_MS``), None when it is 0: then
    every append signs a checkpoint of its own."""
    ms = getattr(settings, "SAFECASE_LEDGER_INTEGRATION_MS", 0) or 0
    return datetime.timedelta(milliseconds=ms) if ms > 0 else None


@dataclass(frozen=True)
class _Item:
    """An entry ready for the log: what a row of :class:`LogEntry` holds but its index."""

    kind: str
    subject: str
    digest: str
    envelope: bytes
    key_id: str
    recorded_at: datetime.datetime
    user_id: int | None


#: From this many records on, a batch is signed by worker processes (one per CPU): Ed25519
#: signing in ``cryptography`` holds the GIL, so threads would not help.
PARALLEL_SIGN_MIN = 20_000
_SIGN_CHUNK = 5_000

# The batch the signing workers read, set before they are forked (inherited, not pickled).
_sign_job: tuple | None = None


def _items(project: Project, records: Sequence[Record], user, key: LoadedKey) -> list[_Item]:
    """Sign each record's statement (raises before anything is written when one is malformed)."""
    now = timezone.now()
    stamp = _timestamp(now)
    user_id = user.pk if getattr(user, "pk", None) else None
    envelopes = _envelopes(project, records, user, stamp, key)
    key_id = key.key_id
    return [
        _Item(
            record.kind,
            record.subjects[0].name[:500],
            record.subjects[0].sha256,
            envelope,
            key_id,
            now,
            user_id,
        )
        for record, envelope in zip(records, envelopes, strict=True)
    ]


def _envelopes(project, records, user, stamp, key, workers=None) -> list[bytes]:
    """The signed envelopes of ``records`` in order: in this process for a small batch, else in
    ranges by ``workers`` forked processes (default one per CPU where fork exists). The bytes
    are the same either way (Ed25519 signatures are deterministic); the first malformed record
    raises its own error either way."""
    global _sign_job
    if workers is None:
        workers = verify.fork_workers() if len(records) >= PARALLEL_SIGN_MIN else 1
    job = (project, records, user, stamp, key)
    if workers <= 1 or len(records) <= _SIGN_CHUNK or not hasattr(os, "fork"):
        return _sign_range(job, 0, len(records))
    import multiprocessing

    ranges = [
        (lo, min(lo + _SIGN_CHUNK, len(records))) for lo in range(0, len(records), _SIGN_CHUNK)
    ]
    _sign_job = job
    try:
        pool = multiprocessing.get_context("fork").Pool(min(workers, len(ranges)))
    except (AssertionError, OSError, ValueError):  # a daemonic process, no semaphores: here
        return _sign_range(job, 0, len(records))
    finally:
        _sign_job = None
    try:
        envelopes: list[bytes] = []
        for part in pool.imap(_sign_job_range, ranges):
            envelopes += part
        return envelopes
    finally:
        pool.terminate()
        pool.join()


def _sign_job_range(bounds: tuple[int, int]) -> list[bytes]:
    assert _sign_job is not None  # noqa: S101 (set before the fork)
    return _sign_range(_sign_job, *bounds)


def _sign_range(job: tuple, lo: int, hi: int) -> list[bytes]:
    project, records, user, stamp, key = job
    return [_envelope(key, _statement(project, record, user, stamp)) for record in records[lo:hi]]


@transaction.atomic
def append(
    project: Project,
    records: Sequence[Record],
    *,
    user=None,
    fetch: bool = True,
    durable: bool = False,
) -> list[LogEntry]:
    """Append ``records`` to the project's log in one transaction.

    With no integration interval (the default) the append also signs a checkpoint of the new
    log. With an interval, the entries get their indexes and tree nodes now and share the
    checkpoint that the first append after the interval signs (or the periodic task, an
    export, a proof, :func:`wait_covered`); ``durable=True`` signs one in this transaction, so
    the entries are covered when the call returns.

    Raises :class:`LedgerError` or :class:`evidence.keys.SigningKeyError` before anything is
    written when a record is malformed or the signing key is missing. Returns the new entries
    as saved rows; a bulk caller that does not need them passes ``fetch=False``, which saves
    reading a large batch back (it then gets an empty list when the batch was written in bulk).
    """
    if not records:
        return []
    key = load_signing_key()
    _ensure_registered(key)
    items = _items(project, records, user, key)
    interval = integration_interval()
    if interval is None:
        view = _look_before_locking(project)
        head = _lock_head(project)
        _check_head(project, head, key.key_id, view)
        entries, _ = _integrate_locked(project, head, key, items, sign=True, verified=True)
    else:
        head = _lock_head(project)
        latest = _latest_row(project)
        sign = durable or _due(latest, interval)
        verified = _check_ahead(project, head, key.key_id, latest, full=sign)
        queued = _take_queue(project) if sign else []
        entries, _ = _integrate_locked(
            project, head, key, queued + items, sign=sign, verified=verified
        )
        entries = entries[len(queued) :]
    if entries[0].pk is None:  # written in bulk
        if not fetch:
            return []
        first = entries[0].index
        return list(LogEntry.objects.filter(project=project, index__gte=first).order_by("index"))
    return entries


def _integrate_locked(
    project: Project,
    head: LogHead,
    key: LoadedKey,
    items: Sequence[_Item],
    *,
    sign: bool,
    verified: bool,
) -> tuple[list[LogEntry], Checkpoint | None]:
    """Give ``items`` the next indexes after the locked ``head``, write their rows and tree
    nodes, move the head and, with ``sign``, sign and queue a checkpoint of the new log.
    ``verified``: the head was checked entirely (then the new head counts as checked)."""
    size = head.size
    packed = bytes(head.frontier)
    frontier = [packed[i : i + 32] for i in range(0, len(packed), 32)]
    levels = [level for level, _ in _frontier_positions(size)]
    stack = list(zip(levels, frontier, strict=True))

    entries, entry_rows, node_rows = [], [], []
    adapt = connection.ops.adapt_datetimefield_value
    small = len(items) <= SMALL_BATCH
    sha256 = hashlib.sha256
    pk = project.pk
    for offset, item in enumerate(items):
        index = size + offset
        leaf = sha256(b"\x00" + item.envelope).digest()
        if small:
            entries.append(
                LogEntry(
                    project=project,
                    index=index,
                    kind=item.kind,
                    subject=item.subject,
                    digest=item.digest,
                    envelope=item.envelope,
                    leaf_hash=leaf,
                    key_id=item.key_id,
                    recorded_at=item.recorded_at,
                    recorded_by_id=item.user_id,
                )
            )
        else:
            entry_rows.append(
                (
                    pk,
                    index,
                    item.kind,
                    item.subject,
                    item.digest,
                    item.envelope,
                    leaf,
                    item.key_id,
                    adapt(item.recorded_at),
                    item.user_id,
                )
            )
        value, level, position = leaf, 0, index
        while position & 1:
            _, left = stack.pop()
            value = sha256(b"\x01" + left + value).digest()
            level += 1
            position >>= 1
            node_rows.append((pk, level, position, value))
        stack.append((level, value))

    if small:
        # A few rows: one INSERT ... RETURNING each gives the ids without reading back and
        # costs fewer round trips (held under the lock) than COPY.
        LogEntry.objects.bulk_create(entries)
        MerkleNode.objects.bulk_create(
            [MerkleNode(project=project, level=lv, index=ix, hash=h) for _, lv, ix, h in node_rows]
        )
    else:
        bulk_insert(connection, LogEntry._meta.db_table, ENTRY_COLUMNS, entry_rows, binary=True)
        bulk_insert(connection, MerkleNode._meta.db_table, NODE_COLUMNS, node_rows, binary=True)
        # A bulk caller's rows are read back (``append`` with ``fetch``) or not needed: model
        # instances for each would cost more than hashing them.
        entries = [_Appended(row[1]) for row in entry_rows]
    root = _fold([value for _, value in stack])
    head.size = size + len(items)
    head.root = root
    head.frontier = b"".join(value for _, value in stack)
    head.save(update_fields=["size", "root", "frontier"])
    checkpoint = None
    if sign:
        checkpoint = _sign_checkpoint(project, head.size, root, key)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {PendingPublication._meta.db_table} "  # noqa: S608
                "(project_id, checkpoint_id, created_at) VALUES (%s, %s, %s)",
                [project.pk, checkpoint.pk, adapt(timezone.now())],
            )
    state = (head.size, root, bytes(head.frontier), key.key_id)
    transaction.on_commit(lambda: _after_commit(project, state, checkpoint, verified))
    return entries, checkpoint


@dataclass(frozen=True)
class _Appended:
    """The index of an entry written in bulk (not read back)."""

    index: int
    pk = None


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
# Project id -> when this process last signed a checkpoint or found one not yet due.
_integrated_at: dict[int, datetime.datetime] = {}


def _after_commit(
    project: Project,
    state: tuple[int, bytes, bytes, str],
    checkpoint: Checkpoint | None,
    verified: bool = True,
) -> None:
    """Publish this append's checkpoint, and the project's older queued ones.

    A failure is logged, not raised: the append has committed, and its checkpoint stays queued
    for the next append, the periodic task and ``publish_checkpoints``. Then the checkpoint is
    announced (:data:`evidence.signals.checkpoint_committed`) for the witnesses. An append that
    signed nothing (within an integration interval) only remembers the head it left, when
    that head was checked entirely.
    """
    if verified:
        _checked_heads[project.pk] = state
    else:
        _checked_heads.pop(project.pk, None)
    if checkpoint is None:
        return
    _integrated_at[project.pk] = timezone.now()
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
    latest = _latest_row(project)
    if latest is None and size == 0:
        return
    if latest is None or latest.size != size or latest.root != root:
        found = f"size {latest.size}" if latest else "none"
        raise LedgerError(
            _tampered(project, f"its head (size {size}) is not its latest checkpoint ({found})")
        )
    _check_trusted_checkpoint(project, latest)


def _check_trusted_checkpoint(project: Project, latest: _Latest) -> None:
    """The checkpoint must be signed by a trusted key and say what its columns say."""
    size = latest.size
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
    if note.size != size or note.root != latest.root:
        raise LedgerError(_tampered(project, "its latest checkpoint disagrees with its note"))


@dataclass(frozen=True)
class _Latest:
    size: int
    root: bytes
    note: str
    key_id: str
    created_at: datetime.datetime


def _latest_row(project: Project) -> _Latest | None:
    """The project's latest checkpoint (written out: this runs under the log lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT size, root, note, key_id, created_at FROM {Checkpoint._meta.db_table} "  # noqa: S608
            "WHERE project_id = %s ORDER BY size DESC LIMIT 1",
            [project.pk],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    created = row[4]
    if isinstance(created, str):  # SQLite without converters
        created = datetime.datetime.fromisoformat(created)
    if timezone.is_naive(created):
        created = timezone.make_aware(created, datetime.UTC)
    return _Latest(row[0], bytes(row[1]), row[2], row[3], created)


def _due(latest: _Latest | None, interval: datetime.timedelta) -> bool:
    """Whether the interval since the latest checkpoint has passed (a new one is due)."""
    return latest is None or timezone.now() - latest.created_at >= interval


def _check_ahead(
    project: Project, head: LogHead, key_id: str, latest: _Latest | None, *, full: bool
) -> bool:
    """The head check of a log whose head may be ahead of its latest checkpoint (an
    integration interval is set). Returns whether the head is checked entirely.

    Always: the frontier folds to the root and the store holds no later or different
    checkpoint than the latest one here. With ``full`` (about to sign a checkpoint over the
    head), also what :func:`_check_tail` checks, unless this process already checked or wrote
    this very head: a checkpoint must never bless entries planted in the database.
    """
    root, frontier = bytes(head.root), bytes(head.frontier)
    state = (head.size, root, frontier, key_id)
    last = _checked_heads.get(project.pk)
    _contended[project.pk] = last is not None and last != state
    hashes = [frontier[i : i + 32] for i in range(0, len(frontier), 32)]
    if len(hashes) != len(_frontier_positions(head.size)) or _fold(hashes) != root:
        raise LedgerError(_tampered(project, "its head's frontier does not fold to its root"))
    verified = last == state
    if full and not verified:
        _check_tail(project, head, latest)
        verified = True
    size, published_root = (latest.size, latest.root) if latest else (0, EMPTY_ROOT)
    try:
        check_not_rolled_back(project, size, published_root)
    except RollbackError as exc:
        raise LedgerError(str(exc)) from None
    if verified:
        _checked_heads[project.pk] = state
    return verified


def _check_tail(project: Project, head: LogHead, latest: _Latest | None) -> None:
    """The entries after the latest checkpoint, before a checkpoint is signed over them.

    The latest checkpoint must be signed by a trusted key and its root must be the stored
    tree's at its size; each later entry must be signed by a trusted key and hash to its
    stored leaf; and these leaves, folded onto the checkpoint's tree, must give the head.
    """
    size = 0
    if latest is not None:
        size = latest.size
        _check_trusted_checkpoint(project, latest)
    if size > head.size:
        raise LedgerError(
            _tampered(project, f"its head (size {head.size}) is behind its latest checkpoint")
        )
    positions = _frontier_positions(size)
    nodes = _fetch_nodes(project, positions)
    stack = [(level, nodes[(level, ix)]) for level, ix in positions]
    if _fold([value for _, value in stack]) != (latest.root if latest else EMPTY_ROOT):
        raise LedgerError(
            _tampered(project, f"its stored tree at size {size} is not its latest checkpoint's")
        )
    index_column = connection.ops.quote_name("index")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {index_column}, envelope, leaf_hash, key_id "  # noqa: S608
            f"FROM {LogEntry._meta.db_table} WHERE project_id = %s AND {index_column} >= %s "
            f"ORDER BY {index_column}",
            [project.pk, size],
        )
        rows = cursor.fetchall()
    for expected, (index, envelope, leaf, key_id) in enumerate(rows, start=size):
        envelope = bytes(envelope)
        if index != expected:
            raise LedgerError(_tampered(project, f"entry {expected} is missing"))
        if verify.leaf_hash(envelope) != bytes(leaf):
            raise LedgerError(_tampered(project, f"entry {index}'s leaf hash is not its content's"))
        if not _signed_by_trusted(envelope, key_id):
            raise LedgerError(_tampered(project, f"entry {index} is not signed by a trusted key"))
        _push(stack, verify.leaf_hash(envelope), index)
    if size + len(rows) != head.size or b"".join(v for _, v in stack) != bytes(head.frontier):
        raise LedgerError(_tampered(project, f"its entries after size {size} do not make its head"))


def _push(stack: list[tuple[int, bytes]], leaf: bytes, index: int) -> None:
    value, level = leaf, 0
    while index & 1:
        _, left = stack.pop()
        value = verify.node_hash(left, value)
        level += 1
        index >>= 1
    stack.append((level, value))


def _signed_by_trusted(envelope: bytes, key_id: str) -> bool:
    signer = trusted_signer(key_id)
    if signer is None:
        return False
    try:
        parsed = json.loads(envelope)
    except ValueError:
        return False
    return isinstance(parsed, dict) and verify.verify_envelope(
        parsed, {key_id: signer[1]}, payload_type=PAYLOAD_TYPE
    )


def _take_queue(project: Project) -> list[_Item]:
    """Remove the project's queued entries (in submission order) for integration in this
    transaction; each must be signed by a trusted key, or nothing is integrated."""
    table = QueuedEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE project_id = %s "  # noqa: S608
            "RETURNING id, kind, subject, digest, envelope, key_id, recorded_at, recorded_by_id",
            [project.pk],
        )
        rows = sorted(cursor.fetchall())
    items = []
    for row_id, kind, subject, digest, envelope, key_id, recorded_at, user_id in rows:
        envelope = bytes(envelope)
        if not _signed_by_trusted(envelope, key_id):
            raise LedgerError(
                f"queued entry {row_id} of {project.key} is not signed by a trusted key: it "
                "was written outside the application. Nothing was integrated; remove it"
            )
        if isinstance(recorded_at, str):
            recorded_at = datetime.datetime.fromisoformat(recorded_at)
        if timezone.is_naive(recorded_at):
            recorded_at = timezone.make_aware(recorded_at, datetime.UTC)
        items.append(_Item(kind, subject, digest, envelope, key_id, recorded_at, user_id))
    return items


QUEUE_COLUMNS = [
    "project_id",
    "kind",
    "subject",
    "digest",
    "envelope",
    "key_id",
    "recorded_at",
    "recorded_by_id",
]


def enqueue(project: Project, records: Sequence[Record], *, user=None, durable=False) -> int:
    """Submit ``records`` to the project's log without waiting for its lock (group commit).

    The signed entries are written to the queue in the caller's transaction (or one of their
    own): many clients commit at once, and one integrator moves every queued entry into the
    log in one transaction (:func:`integrate`). Returns the number queued. ``durable=True``
    integrates before returning, so the entries are in the log and covered by a checkpoint;
    otherwise they are integrated by the first submission or append after the integration
    interval (at once without an interval), the periodic task, an export or a proof.
    """
    if not records:
        return 0
    key = load_signing_key()
    _ensure_registered(key)
    items = _items(project, records, user, key)
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (
            project.pk,
            i.kind,
            i.subject,
            i.digest,
            i.envelope,
            i.key_id,
            adapt(i.recorded_at),
            i.user_id,
        )
        for i in items
    ]
    if len(rows) > SMALL_BATCH:
        with transaction.atomic():
            bulk_insert(connection, QueuedEntry._meta.db_table, QUEUE_COLUMNS, rows)
    else:  # one statement, committed on its own outside a transaction: one round trip
        columns = ", ".join(QUEUE_COLUMNS)
        marks = ", ".join(["(" + ", ".join(["%s"] * len(QUEUE_COLUMNS)) + ")"] * len(rows))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {QueuedEntry._meta.db_table} ({columns}) VALUES {marks}",  # noqa: S608
                [value for row in rows for value in row],
            )
    if durable:
        integrate(project)
    elif connection.in_atomic_block:
        transaction.on_commit(lambda: _integrate_if_due(project))
    else:
        _integrate_if_due(project)
    return len(items)


def _integrate_if_due(project: Project) -> None:
    interval = integration_interval()
    if interval is None:
        integrate(project)
        return
    last = _integrated_at.get(project.pk)
    if last is not None and timezone.now() - last < interval:
        return
    _integrated_at[project.pk] = timezone.now()
    integrate(project, force=False, wait=False)


def integrate(project: Project, *, force: bool = True, wait: bool = True) -> Checkpoint | None:
    """Integrate the project's queued entries and sign a checkpoint covering the whole log.

    Returns the new checkpoint, or None when there was nothing to cover. ``force=False``
    leaves a log alone whose latest checkpoint is younger than the integration interval;
    ``wait=False`` returns at once when another process holds the log (it is integrating).
    """
    key = load_signing_key()
    _ensure_registered(key)
    with transaction.atomic():
        head = _lock_head(project, skip_locked=not wait)
        if head is None:
            return None
        latest = _latest_row(project)
        interval = integration_interval()
        if not force and interval is not None and not _due(latest, interval):
            _integrated_at[project.pk] = latest.created_at
            return None
        items = _take_queue(project)
        if not items and head.size == (latest.size if latest else 0):
            return None
        verified = _check_ahead(project, head, key.key_id, latest, full=True)
        _, checkpoint = _integrate_locked(project, head, key, items, sign=True, verified=verified)
        return checkpoint


def cover(project: Project) -> None:
    """Before an export or a proof: integrate what no checkpoint covers yet. Costs one query
    when nothing is queued and every append signs its own checkpoint."""
    if integration_interval() is None and not QueuedEntry.objects.filter(project=project).exists():
        return
    integrate(project)


def _covered_sql() -> str:
    """SQL for the size the latest checkpoint of the log head ``h`` covers (0 without one)."""
    return (
        f"COALESCE((SELECT MAX(c.size) FROM {Checkpoint._meta.db_table} c"  # noqa: S608
        " WHERE c.project_id = h.project_id), 0)"
    )


def awaiting_checkpoint(recorded_before: datetime.datetime) -> int:
    """How many statements recorded before ``recorded_before`` (every project) no signed
    checkpoint covers yet: queued, or in a log beyond its latest checkpoint. One query."""
    index = connection.ops.quote_name("index")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {QueuedEntry._meta.db_table}"  # noqa: S608
            f" WHERE recorded_at < %s) + (SELECT COUNT(*) FROM {LogHead._meta.db_table} h"
            f" JOIN {LogEntry._meta.db_table} e ON e.project_id = h.project_id"
            f" AND e.{index} >= {_covered_sql()} WHERE e.recorded_at < %s)",
            [recorded_before, recorded_before],
        )
        return cursor.fetchone()[0]


def integrate_all() -> dict[str, int]:
    """Integrate every project whose log has entries no checkpoint covers or queued entries
    (the periodic task). Returns the new checkpoint's size by project key."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT h.project_id FROM {LogHead._meta.db_table} h"  # noqa: S608
            f" WHERE h.size > {_covered_sql()}"
            f" UNION SELECT DISTINCT project_id FROM {QueuedEntry._meta.db_table}"
        )
        ids = sorted(pk for (pk,) in cursor.fetchall())
    done = {}
    for project in Project.objects.filter(pk__in=ids).order_by("pk"):
        try:
            checkpoint = integrate(project)
        except LedgerError:
            logger.exception("the log of %s was not integrated", project.key)
            continue
        if checkpoint is not None:
            done[project.key] = checkpoint.size
    return done


def wait_covered(entry: LogEntry) -> Checkpoint:
    """A checkpoint that covers ``entry`` (its tree includes the entry's index), signing one
    now when the latest does not yet."""
    latest = latest_checkpoint(entry.project)
    if latest is None or latest.size <= entry.index:
        integrate(entry.project)
        latest = latest_checkpoint(entry.project)
    if latest is None or latest.size <= entry.index:
        raise LedgerError(
            f"no checkpoint of {entry.project.key} covers entry {entry.index}: the entry is "
            "not in the log"
        )
    return latest


def _tampered(project: Project, what: str) -> str:
    return (
        f"the log of {project.key} was changed outside the application: {what}. "
        "Nothing was appended; run verify_ledger"
    )


def forget_checked_heads() -> None:
    """Drop the per-process record of checked heads (between tests, or after a restore)."""
    _checked_heads.clear()
    _contended.clear()
    _integrated_at.clear()
    _registered.clear()


def head_of(project: Project) -> tuple[int, bytes]:
    head = LogHead.objects.filter(project=project).first()
    return (head.size, bytes(head.root)) if head else (0, EMPTY_ROOT)


def latest_checkpoint(project: Project) -> Checkpoint | None:
    return Checkpoint.objects.filter(project=project).order_by("-size").first()


def _prove(project: Project, build, size: int) -> list[bytes] | None:
    """Run a proof builder twice: once to learn which subtrees it needs, once with their hashes.

    The shape of an RFC 9162 proof depends only on the index and sizes, so the first pass (with
    placeholder hashes) lists every range; one query then fetches them all together with the
    log's size (one round trip). None when the log is shorter than ``size``.
    """
    wanted: list[tuple[int, int]] = []

    def record(lo: int, hi: int) -> bytes:
        wanted.append((lo, hi))
        return EMPTY_ROOT

    build(record)
    pieces = {rng: _split(*rng) for rng in wanted}
    nodes, current = _fetch(project, {p for ps in pieces.values() for p in ps}, head=True)
    if size > current:
        return None

    def subtree_hash(lo: int, hi: int) -> bytes:
        return _fold([nodes[p] for p in pieces.get((lo, hi)) or _split(lo, hi)])

    return build(subtree_hash)


def inclusion_proof(project: Project, index: int, size: int) -> list[bytes]:
    """The RFC 9162 proof that entry ``index`` is in the log at ``size``: one round trip."""
    if 0 <= index < size:
        proof = _prove(project, lambda sub: verify.inclusion_proof(index, size, sub), size)
        if proof is not None:
            return proof
    current, _ = head_of(project)
    if not 0 < size <= current:
        raise LedgerError(f"tree size must be between 1 and {current}; got {size}")
    raise LedgerError(f"entry index must be between 0 and {size - 1}; got {index}")


def consistency_proof(
    project: Project, size1: int, size2: int, *, current: int | None = None
) -> list[bytes]:
    """The RFC 9162 proof that the log at ``size2`` extends the log at ``size1``: one round
    trip. ``current`` (the size of a checkpoint the caller holds) is accepted for callers that
    know it; the log's size is read with the nodes either way."""
    if 0 < size1 <= size2:
        proof = _prove(project, lambda sub: verify.consistency_proof(size1, size2, sub), size2)
        if proof is not None:
            return proof
    current, _ = head_of(project)
    if not 0 < size2 <= current:
        raise LedgerError(f"second size must be between 1 and {current}; got {size2}")
    raise LedgerError(f"first size must be between 1 and {size2}; got {size1}")


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
