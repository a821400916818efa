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
from django.utils import timezone

from evidence import verify
from evidence.ledger import EMPTY_ROOT, integration_interval, origin
from evidence.models import Checkpoint, LogEntry, LogHead, PendingPublication
from evidence.publication import checkpoint_folder, size_of
from evidence.storage import StorageError, default_store
from evidence.trust import Trust, load_trust
from evidence.witnessing import quorum_problems
from projects.models import Project

CHUNK = 50_000
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
    project: Project, *, signatures: bool = False, trust: Trust | None = None
) -> VerifyResult:
    result = VerifyResult(project=project.key)
    store = default_store()
    trust = trust if trust is not None else load_trust(store)
    untrusted_ids = _check_trust(project, result, trust)
    keys, keys_by_id = trust.pairs(), trust.by_id()
    head = LogHead.objects.filter(project=project).first()
    head_size, head_root, head_frontier = (
        (head.size, bytes(head.root), bytes(head.frontier)) if head else (0, EMPTY_ROOT, b"")
    )

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

    stack, count, last_good_size = _recompute(project, result, expected, signatures, keys_by_id)
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


def _remembered_key(project: Project, size: int | None) -> str:
    return f"verify:{project.pk}:{'last' if size is None else size}"


def remember(project: Project, result: VerifyResult) -> dict:
    """Keep a summary of ``result`` in the cache under the project and the log size it covered,
    so that a page can show the last check without reading the whole log again."""
    summary = {
        "ok": result.ok,
        "entries": result.entries,
        "checkpoints": result.checkpoints,
        "published": result.published,
        "problems": list(result.problems[:MAX_LISTED]),
        "checked_at": timezone.now(),
    }
    cache.set(_remembered_key(project, result.entries), summary, timeout=None)
    cache.set(_remembered_key(project, None), summary, timeout=None)
    return summary


def remembered(project: Project, size: int) -> dict | None:
    """The remembered check of the log at ``size`` when there is one, else the most recent at
    another size; ``current`` says which. None when the log was not checked since the cache
    was last cleared."""
    summary = cache.get(_remembered_key(project, size))
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


def _recompute(project, result, expected, signatures, keys_by_id):
    """Stream every entry: gapless indexes, leaf hashes, roots at each checkpoint size.

    Entries come in chunks; each chunk's leaves are hashed in one pass and compared with the
    stored ones as a list, and the runs between checkpoint sizes are folded into the tree in
    bulk (:func:`evidence.verify.extend_frontier`)."""
    stack: list[bytes] = []  # hashes of the perfect subtrees so far, left to right
    last_good_size = 0
    count = 0
    sizes = sorted(expected)
    sha256 = hashlib.sha256
    for rows in _stream_entries(project):
        gap = None
        if rows[-1][0] != count + len(rows) - 1:  # indexes ascend and are unique
            gap = next(i for i, row in enumerate(rows) if row[0] != count + i)
            gap, rows = rows[gap][0], rows[:gap]
        envelopes = [row[1] for row in rows]
        stored = [row[2] for row in rows]
        if rows and type(envelopes[0]) is not bytes:
            envelopes, stored = [bytes(e) for e in envelopes], [bytes(h) for h in stored]
        leaves = [sha256(b"\x00" + envelope).digest() for envelope in envelopes]
        if leaves != stored:
            for offset, (leaf, kept) in enumerate(zip(leaves, stored, strict=True)):
                if leaf != kept:
                    index = count + offset
                    result.fail(
                        f"entry {index}: stored leaf hash does not match its content", index
                    )
        if signatures:
            _check_signatures(result, envelopes, count, keys_by_id)
        end, pos = count + len(rows), count
        for cut in sizes[bisect.bisect_right(sizes, count) : bisect.bisect_right(sizes, end)]:
            pos = verify.extend_frontier(stack, pos, leaves[pos - count : cut - count])
            if result.first_bad_index is not None:
                continue  # a leaf already failed: later roots differ because of it
            if _root(stack) != expected[cut]:
                result.fail(
                    f"root at size {cut} does not match its signed checkpoint: an entry at or "
                    f"after index {last_good_size} was changed",
                    last_good_size,
                )
            else:
                last_good_size = cut
        verify.extend_frontier(stack, pos, leaves[pos - count :])
        count = end
        if gap is not None:
            result.fail(f"entry {count} is missing (next stored index is {gap})", count)
            break
    return stack, count, last_good_size


def _check_signatures(result, envelopes: list[bytes], start: int, keys_by_id) -> None:
    for offset, envelope in enumerate(envelopes):
        index = start + offset
        result.signatures_checked += 1
        if not _signature_ok(envelope, keys_by_id):
            result.fail(
                f"entry {index}: envelope signature does not verify against a trusted key "
                f"(it names key {_envelope_keyid(envelope)})",
                index,
            )


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
