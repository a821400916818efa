"""Recompute a project's log and compare it with every checkpoint, in the database and outside.

This is what ``manage.py verify_ledger`` runs. It trusts nothing stored in the database:

- keys come from :mod:`evidence.trust` (the configured key, ``SAFECASE_TRUSTED_KEYS``, signed
  rotation statements), never from the key table; a key row that these do not reach is named,
  and so is every checkpoint it signed and every entry that claims it;
- each leaf hash is recomputed from the envelope bytes and the root rebuilt while streaming;
  every entry must be covered by a checkpoint signed by a trusted key, so an entry appended
  with a planted key (and a checkpoint it signed) fails even without ``--signatures``, and the
  uncovered entries are named with the key id they claim; ``--signatures`` additionally checks
  each entry's own signature against the trusted keys;
- the roots are compared with the checkpoints published to the store, so that a database
  rewritten consistently is still caught by the copies it could not reach; a store that cannot
  be listed, a checkpoint missing from it (unless queued and younger than
  ``SAFECASE_PUBLISH_GRACE``) and a store ahead of the database are failures;
- the head row is recomputed (size, root, frontier) and any difference is reported;
- the rows that other apps keep beside the log and that an assessor reads as evidence (an
  approval, a signature) are compared with the statements of the entries they cite, by the
  checks those apps register (:func:`register_row_check`): a row edited in the database no
  longer says what its entry says;
- with ``SAFECASE_WITNESSES`` set, every stored cosignature is checked against its witness's
  key, and a checkpoint older than ``SAFECASE_WITNESS_GRACE`` that no checkpoint cosigned by
  the quorum covers is a failure (:func:`evidence.witnessing.quorum_problems`).
"""

from __future__ import annotations

import base64
import bisect
import datetime
import hashlib
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from evidence import verify
from evidence.ledger import EMPTY_ROOT, integration_interval, origin
from evidence.models import Checkpoint, LogEntry, LogHead, PendingPublication
from evidence.publication import checkpoint_folder, size_of
from evidence.storage import StorageError, default_store
from evidence.trust import Trust, load_trust
from evidence.witnessing import quorum_problems
from projects.models import Project

#: Entries read at a time; a power of two, so that each range read is a perfect subtree.
CHUNK = 1 << 16
MAX_LISTED = 10  # sizes or indexes named in one message

#: Checks of rows kept beside the log against their entries' statements, by name: each takes
#: the project and yields one message per row that disagrees. The apps that own such rows
#: register theirs from their ``AppConfig.ready()`` (this app may not import them).
ROW_CHECKS: dict[str, Callable[[Project], Iterable[str]]] = {}


def register_row_check(name: str, check: Callable[[Project], Iterable[str]]) -> None:
    ROW_CHECKS[name] = check


@dataclass
class VerifyResult:
    project: str
    entries: int = 0
    checkpoints: int = 0
    published: int = 0
    unpublished: int = 0
    signatures_checked: int = 0
    uncovered: int = 0  # entries within the integration interval, not yet under a checkpoint
    head: tuple[int, bytes] = (0, b"")  # the log head row the check read: size and root
    first_bad_index: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str, index: int | None = None) -> None:
        self.problems.append(message)
        if index is not None and (self.first_bad_index is None or index < self.first_bad_index):
            self.first_bad_index = index


def _listed(values: list[int]) -> str:
    shown = ", ".join(str(v) for v in values[:MAX_LISTED])
    return shown + (f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else "")


def _signer(note_text: str) -> str:
    """Name the key(s) a note claims to be signed by, as name+keyid."""
    try:
        note = verify.parse_checkpoint(note_text)
    except ValueError:
        return "an unreadable signature"
    return ", ".join(f"{s.name}+{s.key_id.hex()}" for s in note.signatures)


def _published(project: Project, result: VerifyResult, keys, store) -> dict[int, bytes] | None:
    """Roots of the checkpoints published to the store, by size (each signature checked), or
    None when the store cannot be reached or listed."""
    roots: dict[int, bytes] = {}
    try:
        for item in store.list(checkpoint_folder(project.key)):
            if size_of(item.key) is None:
                continue
            text = store.get_bytes(item.key)
            try:
                note = verify.verify_checkpoint(text, keys, origin=origin(project))
            except ValueError as exc:
                result.fail(f"published checkpoint {item.key}: {exc}")
                continue
            if note.size != size_of(item.key):
                result.fail(f"published checkpoint {item.key} is for size {note.size}")
                continue
            roots[note.size] = note.root
    except StorageError:
        result.fail(
            f"the store cannot be reached or listed, so the checkpoints of {project.key} "
            "published outside the database cannot be compared (check SAFECASE_STORAGE_URL)"
        )
        return None
    return roots


def _check_trust(project: Project, result: VerifyResult, trust: Trust) -> set[str]:
    """Report trust problems and untrusted key rows; return the untrusted rows' key ids."""
    for problem in trust.problems:
        result.fail(problem)
    untrusted = trust.untrusted_rows()
    for row in untrusted:
        result.fail(
            f"signing key {row} in the database is not trusted: it is not the configured key, "
            "not in SAFECASE_TRUSTED_KEYS and no signed rotation statement reaches it"
        )
    return {row.key_id for row in untrusted}


def _check_entry_keys(project: Project, result: VerifyResult, trust: Trust, start: int) -> None:
    """Name the entries from ``start`` on (those no trusted checkpoint covers) whose recorded
    key id is not a trusted key's: one query over the index, no signatures.

    Entries below ``start`` are bound to trusted keys by the recomputed roots of checkpoints
    those keys signed; the key id column is not part of the hash, so scanning it across the
    whole log (over a second per million entries) would prove nothing more.
    """
    entries = LogEntry.objects.filter(project=project, index__gte=start)
    bad = list(
        entries.exclude(key_id__in=sorted(trust.keys))
        .order_by("index")
        .values_list("index", "key_id")[: MAX_LISTED + 1]
    )
    for index, key_id in bad[:MAX_LISTED]:
        result.fail(f"entry {index} is signed by key {key_id}, which is not trusted", index)
    if len(bad) > MAX_LISTED:
        result.fail("more entries are signed by untrusted keys")


def _awaiting_integration(project: Project, covered: int) -> bool:
    """Whether the entries from ``covered`` on merely wait for their checkpoint: an integration
    interval is set and the oldest of them was recorded within ``SAFECASE_PUBLISH_GRACE``
    (their keys are checked all the same)."""
    if integration_interval() is None:
        return False
    oldest = (
        LogEntry.objects.filter(project=project, index=covered)
        .values_list("recorded_at", flat=True)
        .first()
    )
    grace = datetime.timedelta(seconds=settings.SAFECASE_PUBLISH_GRACE)
    return oldest is not None and timezone.now() - oldest <= grace + integration_interval()


def _check_store(
    project: Project,
    result: VerifyResult,
    expected: dict[int, bytes],
    published: dict[int, bytes],
    created: dict[int, datetime.datetime],
) -> None:
    """Checkpoints in the database but not in the store: queued and young, or a failure."""
    grace = settings.SAFECASE_PUBLISH_GRACE
    now = timezone.now()
    queued = set(
        PendingPublication.objects.filter(project=project).values_list(
            "checkpoint__size", flat=True
        )
    )
    late, removed = [], []
    for size in sorted(set(expected) - set(published)):
        if size not in queued:
            removed.append(size)
        elif (now - created[size]).total_seconds() > grace:
            late.append(size)
        else:
            result.unpublished += 1
    if expected and not published and (late or removed):
        result.fail(
            f"the store holds no checkpoint for {project.key}, whose log has "
            f"{len(expected)} (sizes {_listed(sorted(expected))})"
        )
    elif removed:
        result.fail(
            f"checkpoints of {project.key} at sizes {_listed(removed)} are not in the store "
            "although they were published: they were removed from it"
        )
    if late:
        result.unpublished += len(late)
        result.fail(
            f"checkpoints of {project.key} at sizes {_listed(late)} are unpublished for longer "
            f"than the grace of {grace} s: the store refuses writes (run publish_checkpoints)"
        )


def verify_project(
    project: Project,
    *,
    signatures: bool = False,
    trust: Trust | None = None,
    workers: int | None = None,
) -> VerifyResult:
    """Check the project's log (see the module's text). ``workers``: processes that read and
    hash the entries side by side; by default one per CPU for a large log on PostgreSQL
    (:func:`_parallel_ranges`), 1 to check in this process alone."""
    result = VerifyResult(project=project.key)
    store = default_store()
    trust = trust if trust is not None else load_trust(store)
    untrusted_ids = _check_trust(project, result, trust)
    keys, keys_by_id = trust.pairs(), trust.by_id()
    head = LogHead.objects.filter(project=project).first()
    head_size, head_root, head_frontier = (
        (head.size, bytes(head.root), bytes(head.frontier)) if head else (0, EMPTY_ROOT, b"")
    )
    result.head = (head_size, head_root)

    # Checkpoints in the database: signature by a trusted key, and that the columns say what
    # the note says.
    expected: dict[int, bytes] = {}
    created: dict[int, datetime.datetime] = {}
    notes: dict[int, str] = {}
    for cp in Checkpoint.objects.filter(project=project).order_by("size").iterator():
        result.checkpoints += 1
        try:
            note = verify.verify_checkpoint(cp.note, keys, origin=origin(project))
        except ValueError as exc:
            why = (
                f"signed by {_signer(cp.note)}, which is not trusted"
                if cp.key_id in untrusted_ids or "not signed by any" in str(exc)
                else str(exc)
            )
            result.fail(f"checkpoint at size {cp.size}: {why}", max(cp.size - 1, 0))
            continue
        if note.size != cp.size or note.root != bytes(cp.root):
            result.fail(f"checkpoint at size {cp.size} disagrees with its own signed note")
            continue
        expected[note.size] = note.root
        created[note.size] = cp.created_at
        notes[note.size] = cp.note

    signed = set(expected)  # sizes of the database's trusted checkpoints
    published = _published(project, result, keys, store)
    if published is not None:
        result.published = len(published)
        _check_store(project, result, expected, published, created)
        for size, root in published.items():
            if size in expected and expected[size] != root:
                result.fail(
                    f"checkpoint at size {size} differs from the copy published to the store"
                )
            expected[size] = root  # the published copy is the one the database cannot rewrite

    stack, count, last_good_size = _recompute(
        project, result, expected, signatures, keys_by_id, workers
    )
    result.entries = count
    if published:
        latest = max(published)
        if latest > count:
            result.fail(
                f"the store holds a checkpoint of {project.key} at size {latest} but the "
                f"database's log has only {count} entries: the database was rolled back (a "
                "restored backup?) or entries were removed",
                count,
            )
    beyond = sorted(s for s in signed if s > count)
    if beyond:
        result.fail(
            f"checkpoints of {project.key} signed by a trusted key at sizes {_listed(beyond)} "
            f"cover more than the {count} entries stored: entries were removed",
            count,
        )
    covered = max((s for s in expected if s <= count), default=0)
    if covered < count:
        if not signatures:
            _check_entry_keys(project, result, trust, covered)
        if _awaiting_integration(project, covered):
            result.uncovered = count - covered
        else:
            result.fail(
                f"entries {covered} to {count - 1} of {project.key} are covered by no "
                "checkpoint signed by a trusted key",
                covered if result.first_bad_index is None else None,
            )
    _check_head(result, (head_size, head_root, head_frontier), stack, count, last_good_size)
    for check in ROW_CHECKS.values():
        shown = 0
        for problem in check(project):
            shown += 1
            if shown > MAX_LISTED:
                result.fail("more rows disagree with their ledger entries")
                break
            result.fail(problem)
    cosigned = {s: (notes[s], created[s]) for s in notes}
    for problem in quorum_problems(project, cosigned, count, store):
        result.fail(problem)
    return result


def _remembered_key(project: Project, head: tuple[int, bytes] | None) -> str:
    """Under the log's head, size and root: the same size in another database sharing the
    cache (a staging copy, a restored backup) is another log, whose check says nothing of
    this one."""
    return f"verify:{project.pk}:" + ("last" if head is None else f"{head[0]}:{head[1].hex()}")


def remember(project: Project, result: VerifyResult) -> dict:
    """Keep a summary of ``result`` in the cache under the project and the log head it read,
    so that a page can show the last check without reading the whole log again."""
    summary = {
        "ok": result.ok,
        "entries": result.entries,
        "checkpoints": result.checkpoints,
        "published": result.published,
        "problems": list(result.problems[:MAX_LISTED]),
        "checked_at": timezone.now(),
    }
    cache.set(_remembered_key(project, result.head), summary, timeout=None)
    cache.set(_remembered_key(project, None), summary, timeout=None)
    return summary


def remembered(project: Project, size: int, root: bytes) -> dict | None:
    """The remembered check of the log whose head is ``size`` and ``root`` when there is one,
    else the most recent of another head; ``current`` says which. None when the log was not
    checked since the cache was last cleared."""
    summary = cache.get(_remembered_key(project, (size, bytes(root))))
    if summary is not None:
        return {**summary, "current": True}
    last = cache.get(_remembered_key(project, None))
    return {**last, "current": False} if last else None


def _check_head(result: VerifyResult, head, stack: list[bytes], count: int, good: int) -> None:
    """The head row is derived state: recompute it and name every difference."""
    head_size, head_root, head_frontier = head
    if result.first_bad_index is not None:
        return  # an entry already failed: the head differs because of it
    if head_size != count:
        result.fail(f"the log head says {head_size} entries but {count} are stored", count)
    if head_root != _root(stack):
        result.fail("the log head's root does not match the entries", good)
    if head_frontier != b"".join(stack):
        result.fail("the log head's frontier does not match the entries", good)


def _recompute(project, result, expected, signatures, keys_by_id, workers=None):
    """Stream every entry: gapless indexes, leaf hashes, roots at each checkpoint size.

    The log is read in aligned ranges of :data:`CHUNK` leaves (a power of two), so each range is
    a perfect subtree of the log's tree (the last one a part of one) and can be checked on its
    own (:func:`_check_range`): its leaves hashed and compared with the stored ones, its
    signatures checked, and its leaves folded into MTH(D[lo:cut]) for every checkpoint size
    ``cut`` inside it. This process then joins the ranges in order (:func:`_join_range`), so the
    root at each checkpoint size, the head's frontier and every message are the same whether the
    ranges were checked here or by ``workers`` processes side by side (:func:`_parallel_ranges`),
    which a large log on PostgreSQL is by default."""
    state = _Joined()
    sizes = sorted(expected)
    parts = _parallel_ranges(project, sizes, signatures, keys_by_id, workers)
    if parts is None:
        parts = _ranges_here(project, sizes, signatures, keys_by_id)
    try:
        for part in parts:
            if not _join_range(project, result, expected, state, part):
                break
    finally:
        parts.close()
    return state.stack, state.count, state.last_good_size


@dataclass
class _Range:
    """What :func:`_check_range` found in the leaves ``lo`` to ``lo + size - 1``."""

    lo: int
    size: int  # entries read in order from lo (fewer when one is missing)
    missing: bool  # entry lo + size is missing although later ones are stored
    next_index: int | None  # the next stored index after the missing one, when known
    bad_leaves: list[int]
    bad_signatures: list[tuple[int, str]]  # index and the key id(s) the envelope names
    signatures_checked: int
    roots: list[tuple[int, bytes]]  # (cut, MTH(D[lo:cut])) for each checkpoint size inside
    frontier: list[bytes]  # perfect subtrees of D[lo:lo + size], largest first


@dataclass
class _Joined:
    stack: list[bytes] = field(default_factory=list)  # frontier of D[0:count]
    count: int = 0
    last_good_size: int = 0


def _gapless(lo: int, indexes: list[int]) -> tuple[int, bool, int | None]:
    """How many of ``indexes`` (ascending, unique) run on from ``lo`` without a gap; whether
    one is missing before the end, and the index stored after it."""
    count = len(indexes)
    if not indexes or indexes[-1] == lo + count - 1:
        return count, False, None
    gap = next(i for i, index in enumerate(indexes) if index != lo + i)
    return gap, True, indexes[gap]


def _check_range(lo, envelopes, stored, sizes, signatures, keys_by_id) -> _Range:
    """Check the envelopes and stored leaf hashes of entries ``lo``, ``lo + 1``, ... of a range
    aligned to its length's power of two; no database and no Django, so a worker process can
    run it."""
    if envelopes and type(envelopes[0]) is not bytes:
        envelopes, stored = [bytes(e) for e in envelopes], [bytes(h) for h in stored]
    sha256 = hashlib.sha256
    leaves = [sha256(b"\x00" + envelope).digest() for envelope in envelopes]
    bad_leaves: list[int] = []
    if leaves != stored:
        pairs = zip(leaves, stored, strict=True)
        bad_leaves = [lo + i for i, (leaf, kept) in enumerate(pairs) if leaf != kept]
    bad_signatures: list[tuple[int, str]] = []
    if signatures:
        for offset, envelope in enumerate(envelopes):
            if not _signature_ok(envelope, keys_by_id):
                bad_signatures.append((lo + offset, _envelope_keyid(envelope)))
    end = lo + len(envelopes)
    frontier: list[bytes] = []
    roots = []
    pos = 0  # relative to lo: lo is a multiple of a power of two at least the range's length
    for cut in sizes[bisect.bisect_right(sizes, lo) : bisect.bisect_right(sizes, end)]:
        pos = verify.extend_frontier(frontier, pos, leaves[pos : cut - lo])
        roots.append((cut, verify.fold_subtree_hashes(frontier)))
    verify.extend_frontier(frontier, pos, leaves[pos:])
    return _Range(
        lo=lo,
        size=len(envelopes),
        missing=False,
        next_index=None,
        bad_leaves=bad_leaves,
        bad_signatures=bad_signatures,
        signatures_checked=len(envelopes) if signatures else 0,
        roots=roots,
        frontier=frontier,
    )


def _join_range(project, result, expected, state: _Joined, part: _Range) -> bool:
    """Add a checked range to the log so far and report what it found; False after a gap."""
    for index in part.bad_leaves:
        result.fail(f"entry {index}: stored leaf hash does not match its content", index)
    result.signatures_checked += part.signatures_checked
    for index, key_ids in part.bad_signatures:
        result.fail(
            f"entry {index}: envelope signature does not verify against a trusted key "
            f"(it names key {key_ids})",
            index,
        )
    for cut, right in part.roots:
        if result.first_bad_index is not None:
            continue  # a leaf already failed: later roots differ because of it
        if verify.fold_subtree_hashes([*state.stack, right]) != expected[cut]:
            result.fail(
                f"root at size {cut} does not match its signed checkpoint: an entry at or "
                f"after index {state.last_good_size} was changed",
                state.last_good_size,
            )
        else:
            state.last_good_size = cut
    position, end = part.lo, part.lo + part.size
    for value in part.frontier:  # each perfect subtree joins like a carry in binary addition
        level = (end - position).bit_length() - 1
        carry = position >> level
        while carry & 1:
            value = hashlib.sha256(b"\x01" + state.stack.pop() + value).digest()
            carry >>= 1
        state.stack.append(value)
        position += 1 << level
    state.count = end
    if part.missing:
        following = part.next_index
        if following is None:
            later = LogEntry.objects.filter(project=project, index__gt=end)
            following = later.aggregate(first=Min("index"))["first"]
        result.fail(f"entry {end} is missing (next stored index is {following})", end)
        return False
    return True


def _ranges_here(project: Project, sizes, signatures, keys_by_id):
    """Checked ranges of the chunks of :func:`_stream_entries`, in this process; a chunk with
    a gap is the last one (the ranges after it would not be aligned)."""
    count = 0
    for rows in _stream_entries(project):
        size, missing, following = _gapless(count, [row[0] for row in rows])
        envelopes, stored = [row[1] for row in rows[:size]], [row[2] for row in rows[:size]]
        part = _check_range(count, envelopes, stored, sizes, signatures, keys_by_id)
        part.missing, part.next_index = missing, following
        yield part
        if missing:
            return
        count += size


#: Below this many entries a log is checked in one process: starting workers costs more.
PARALLEL_MIN_ENTRIES = 1 << 18

# What worker processes check, set before they are forked (so inherited, not pickled).
_range_job: dict | None = None
_worker_connection = None


def _parallel_ranges(project, sizes, signatures, keys_by_id, workers):
    """Checked ranges in order from a pool of worker processes, or None to check in this one.

    Each worker reads its ranges from PostgreSQL over a connection of its own, so reading,
    hashing and signature checks all run side by side. By default a log of
    :data:`PARALLEL_MIN_ENTRIES` or more on PostgreSQL, outside a transaction (whose rows other
    connections would not see), gets one worker per CPU; elsewhere ``workers`` above one hands
    the workers the rows read here."""
    global _range_job
    postgresql = connection.vendor == "postgresql" and not connection.in_atomic_block
    minimum = 2 * CHUNK
    if workers is None:
        workers = verify.fork_workers() if postgresql else 1
        minimum = max(minimum, PARALLEL_MIN_ENTRIES)
    if workers <= 1:
        return None
    last = LogEntry.objects.filter(project=project).aggregate(last=Max("index"))["last"]
    total = 0 if last is None else last + 1
    if total < minimum:
        return None
    ranges = [(lo, min(lo + CHUNK, total)) for lo in range(0, total, CHUNK)]
    job: dict = {"sizes": sizes, "signatures": signatures, "keys": keys_by_id}
    if postgresql:
        from psycopg.conninfo import make_conninfo

        params = connection.get_connection_params()
        wanted = {k: v for k, v in params.items() if k in _CONNINFO_KEYS and v not in (None, "")}
        job.update(
            conninfo=make_conninfo(**wanted),
            query=_range_query(with_index=False),
            indexed_query=_range_query(with_index=True),
            project=project.pk,
        )
    else:
        job["rows"] = [row for rows in _stream_entries(project) for row in rows]
    import multiprocessing

    _range_job = job
    try:
        pool = multiprocessing.get_context("fork").Pool(min(workers, len(ranges)))
    except (AssertionError, OSError, ValueError):  # a daemonic process, no semaphores: here
        return None
    finally:
        _range_job = None
    return _PoolParts(pool, pool.imap(_check_range_job, ranges))


class _PoolParts:
    """The workers' results in order; :meth:`close` ends the pool (early after a gap)."""

    def __init__(self, pool, parts):
        self.pool, self.parts = pool, parts

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        self.pool.terminate()
        self.pool.join()


_CONNINFO_KEYS = (
    *("dbname", "user", "password", "host", "port", "options", "service", "passfile"),
    *("sslmode", "sslrootcert", "sslcert", "sslkey"),
)


def _range_query(with_index: bool) -> str:
    table = LogEntry._meta.db_table
    index = connection.ops.quote_name("index")
    columns = f"{index}, envelope, leaf_hash" if with_index else "envelope, leaf_hash"
    return (
        f"SELECT {columns} FROM {table} "  # noqa: S608 (names from metadata)
        f"WHERE project_id = %s AND {index} >= %s AND {index} < %s ORDER BY {index}"
    )


def _check_range_job(bounds: tuple[int, int]) -> _Range:
    """In a worker: read and check the entries ``lo`` to ``hi - 1`` of the job it inherited."""
    job = _range_job
    assert job is not None  # noqa: S101 (set before the fork)
    lo, hi = bounds
    if "rows" in job:
        rows = [row for row in job["rows"] if lo <= row[0] < hi]
    else:
        # First without the index column (a fifth less to read): the indexes are unique, so as
        # many rows as the range is long are all of its entries, in order.
        rows = _fetch(job, job["query"], lo, hi)
        if len(rows) == hi - lo:
            rows = [(lo + offset, *row) for offset, row in enumerate(rows)]
        else:
            rows = _fetch(job, job["indexed_query"], lo, hi)
    size, missing, following = _gapless(lo, [row[0] for row in rows])
    if size < hi - lo:
        missing = True  # the entries after the missing one are in a later range, if any
    envelopes, stored = [row[1] for row in rows[:size]], [row[2] for row in rows[:size]]
    part = _check_range(lo, envelopes, stored, job["sizes"], job["signatures"], job["keys"])
    part.missing, part.next_index = missing, following
    return part


def _fetch(job: dict, query: str, lo: int, hi: int) -> list[tuple]:
    """Rows of the range over this worker's own connection, bytea as raw bytes."""
    global _worker_connection
    if _worker_connection is None:
        import psycopg

        _worker_connection = psycopg.connect(job["conninfo"], autocommit=True)
    with _worker_connection.cursor(binary=True) as cursor:
        cursor.execute(query, [job["project"], lo, hi])
        return cursor.fetchall()


def _stream_entries(project: Project):
    """Lists of up to :data:`CHUNK` rows (index, envelope, leaf hash) in index order, streamed
    without holding the log in memory.

    SQLite's cursor already iterates lazily.
    """
    table = LogEntry._meta.db_table
    index = connection.ops.quote_name("index")
    query = (
        f"SELECT {index}, envelope, leaf_hash FROM {table} "  # noqa: S608 (names from metadata)
        f"WHERE project_id = %s ORDER BY {index}"
    )
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        # A server-side cursor in binary: bytea travels as raw bytes, and each chunk comes in
        # one round trip, its rows converted by the driver in C (a COPY is read row by row).
        raw = connection.connection
        # The next chunk is fetched in a thread while this one is hashed: the database works
        # and the driver waits on the network meanwhile.
        with (
            transaction.atomic(),
            raw.cursor("verify_ledger", binary=True) as cursor,
            ThreadPoolExecutor(1) as reader,
        ):
            cursor.execute(query, [project.pk])
            ahead = reader.submit(cursor.fetchmany, CHUNK)
            while chunk := ahead.result():
                ahead = reader.submit(cursor.fetchmany, CHUNK)
                yield chunk
        return
    with connection.cursor() as cursor:
        cursor.execute(query, [project.pk])
        while rows := cursor.fetchmany(CHUNK):
            yield rows


def _root(stack: list[bytes]) -> bytes:
    return verify.fold_subtree_hashes(stack) if stack else EMPTY_ROOT


def statement_of(envelope: bytes) -> dict:
    """The in-toto statement inside a DSSE envelope, as stored; empty when it cannot be read.

    Only decoded: whether the envelope's signature holds is :func:`verify_project`'s question
    (with ``signatures``), and whether the entry is in the signed log is an inclusion proof's.
    """
    try:
        statement = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    except (ValueError, KeyError, TypeError):
        return {}
    return statement if isinstance(statement, dict) else {}


def _signature_ok(envelope: bytes, keys_by_id: dict[str, bytes]) -> bool:
    try:
        parsed = json.loads(envelope)
    except ValueError:
        return False
    return isinstance(parsed, dict) and verify.verify_envelope(parsed, keys_by_id)


def _envelope_keyid(envelope: bytes) -> str:
    try:
        return ", ".join(str(sig.get("keyid")) for sig in json.loads(envelope)["signatures"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return "none readable"
