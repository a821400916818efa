"""Publishing checkpoints to the store, and reading the store to stop a rolled-back log.

A checkpoint reaches the store after its append has committed. Until the store holds it, it is
queued in :class:`evidence.models.PendingPublication`; the queue is drained by the append itself
(after commit), by the next append to the project, by the periodic task
``evidence.publish_checkpoints`` and by ``manage.py publish_checkpoints``, which also compares
the whole log with the store and publishes any checkpoint the queue lost.

The store is what the database cannot rewrite, so before each append :func:`check_not_rolled_back`
asks it whether the log was ever longer than the database now says (a restored backup, a
rollback): such an append would fork history, and it is refused. The check costs at most one
listing of the checkpoints after the head: the latest published checkpoint each process has
seen or written is remembered, and the store is asked again only when the database head moved
past it.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from evidence import verify
from evidence.keys import log_name
from evidence.models import Checkpoint, PendingPublication, SigningKey
from evidence.storage import ConflictError, StorageError, default_store
from projects.models import Project

logger = logging.getLogger(__name__)

_NOTE_NAME = re.compile(r"(\d{15})\.note")


class RollbackError(Exception):
    """The store shows a longer or different log than the database: appending would fork it."""


def checkpoint_folder(project_key: str) -> str:
    return f"checkpoints/{project_key}"


def checkpoint_store_key(project_key: str, size: int) -> str:
    return f"{checkpoint_folder(project_key)}/{size:015d}.note"


def size_of(store_key: str) -> int | None:
    """The tree size a checkpoint's store key names, or None for any other object."""
    match = _NOTE_NAME.fullmatch(store_key.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


# Per process: store URL and project key -> (size, root) of the latest checkpoint known to be
# in the store (written by this process or read back from it).
_latest_published: dict[tuple[str, str], tuple[int, bytes]] = {}
# Store URL and key id of verifier keys this process has seen in the store.
_vkeys_published: set[tuple[str, str]] = set()
# Store URL and project key -> a size at which the store refused this process's checkpoint
# because it holds a different one: the database forked from the published log.
_conflicts: dict[tuple[str, str], int] = {}


def _remember(store, project_key: str, size: int, root: bytes) -> None:
    known = _latest_published.get((store.url, project_key))
    if known is None or known[0] < size:
        _latest_published[(store.url, project_key)] = (size, bytes(root))


def forget() -> None:
    """Drop what this process remembers of the store (between tests, or after a restore)."""
    _latest_published.clear()
    _vkeys_published.clear()
    _conflicts.clear()
    _backlog_checked.clear()


def publish_checkpoint(checkpoint: Checkpoint, store=None) -> bool:
    """Write one checkpoint (and its key's verifier key) to the store; False on failure.

    An object is never replaced: a different checkpoint already at that key is a failure that
    stays visible (the queue keeps it, ``verify_ledger`` names the difference).
    """
    store = store or default_store()
    project_key = checkpoint.project.key
    try:
        store.put_bytes(
            checkpoint_store_key(project_key, checkpoint.size),
            checkpoint.note.encode("utf-8"),
            overwrite=False,
        )
        if (store.url, checkpoint.key_id) not in _vkeys_published:
            if store.exists(f"keys/{checkpoint.key_id}.vkey"):
                _vkeys_published.add((store.url, checkpoint.key_id))
            else:
                key = SigningKey.objects.get(key_id=checkpoint.key_id)
                publish_vkey(key.name, bytes(key.public_key), store)
    except ConflictError as exc:
        _conflicts[(store.url, project_key)] = checkpoint.size
        logger.error("checkpoint %s conflicts with the published log: %s", checkpoint, exc)
        return False
    except StorageError as exc:
        logger.warning("checkpoint %s not published (it stays queued): %s", checkpoint, exc)
        return False
    _remember(store, project_key, checkpoint.size, bytes(checkpoint.root))
    return True


def publish_vkey(name: str, public: bytes, store=None) -> str:
    """Write a key's verifier-key text to the store's ``keys/`` folder; return its store key.

    This is where a regulator or an operator fetches the key independently of any package."""
    store = store or default_store()
    vkey = verify.format_vkey(name, public)
    key_id = verify.note_key_id(name, public).hex()
    store_key = f"keys/{key_id}.vkey"
    store.put_bytes(store_key, vkey.encode("utf-8"), overwrite=False)
    _vkeys_published.add((store.url, key_id))
    return store_key


@dataclass
class PublishReport:
    published: list[tuple[str, int]] = field(default_factory=list)
    unpublished: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# Project id -> when this process last looked for older queued checkpoints.
_backlog_checked: dict[int, datetime.datetime] = {}

#: A queued checkpoint younger than this is left to the append that made it (it publishes its
#: own checkpoint right after committing); an older one is caught up by the next append.
IN_FLIGHT = datetime.timedelta(seconds=10)


def dequeue(checkpoint_ids: list[int]) -> None:
    """Remove published checkpoints from the queue without waiting for a disk flush.

    The row says only "maybe unpublished": should the deletion be lost in a crash, the next
    publication of that checkpoint finds it already in the store and removes the row again. So
    on PostgreSQL this commit does not wait for the WAL, which keeps an append to one flush.
    """
    if not checkpoint_ids:
        return
    marks = ", ".join(["%s"] * len(checkpoint_ids))
    delete = (
        f"DELETE FROM {PendingPublication._meta.db_table} "  # noqa: S608
        f"WHERE checkpoint_id IN ({marks})"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(delete, checkpoint_ids)


def publish_new(checkpoint: Checkpoint) -> None:
    """After an append has committed: publish its checkpoint, then any older queued one."""
    store = default_store()
    if not publish_checkpoint(checkpoint, store):
        return
    dequeue([checkpoint.pk])
    now = timezone.now()
    last = _backlog_checked.get(checkpoint.project_id)
    if last is not None and now - last < IN_FLIGHT:
        return  # looked less than IN_FLIGHT ago: anything queued since is still in flight
    _backlog_checked[checkpoint.project_id] = now
    backlog = PendingPublication.objects.filter(
        project=checkpoint.project, created_at__lt=now - IN_FLIGHT
    )
    if backlog.exists():
        publish_pending(checkpoint.project, store)


def _publish_in_order(checkpoints, store, report: PublishReport) -> None:
    failed = False
    done = []
    for checkpoint in checkpoints:
        key = checkpoint.project.key
        if not failed and publish_checkpoint(checkpoint, store):
            report.published.append((key, checkpoint.size))
            done.append(checkpoint.pk)
        else:
            failed = True  # keep the order: a later checkpoint waits for an earlier one
            report.unpublished.append((key, checkpoint.size))
    dequeue(done)


def publish_pending(project: Project | None = None, store=None) -> PublishReport:
    """Publish the queued checkpoints (of one project, or all), oldest first."""
    store = store or default_store()
    report = PublishReport()
    queued = PendingPublication.objects.select_related("checkpoint__project")
    if project is not None:
        queued = queued.filter(project=project)
    by_project: dict[int, list[Checkpoint]] = {}
    for row in queued.order_by("project_id", "checkpoint__size"):
        by_project.setdefault(row.project_id, []).append(row.checkpoint)
    for checkpoints in by_project.values():
        _publish_in_order(checkpoints, store, report)
    return report


def reconcile(project: Project, trust, store=None) -> PublishReport:
    """Publish every checkpoint of the project's log that the store lacks, queued or not.

    Only checkpoints signed by a trusted key are published; another is reported and left out.
    """
    store = store or default_store()
    report = PublishReport()
    try:
        present = published_sizes(project, store)
    except StorageError:
        report.problems.append(f"{project.key}: the store cannot be reached or listed")
        return report
    keys = trust.pairs()
    missing = []
    for checkpoint in (
        Checkpoint.objects.filter(project=project).exclude(size__in=present).order_by("size")
    ):
        try:
            verify.verify_checkpoint(checkpoint.note, keys, origin=_origin(project))
        except ValueError as exc:
            report.problems.append(
                f"{project.key}: checkpoint at size {checkpoint.size} is not published: {exc}"
            )
            report.unpublished.append((project.key, checkpoint.size))
            continue
        missing.append(checkpoint)
    _publish_in_order(missing, store, report)
    PendingPublication.objects.filter(project=project, checkpoint__size__in=present).delete()
    return report


def published_sizes(project: Project, store) -> set[int]:
    """Sizes of the project's checkpoints in the store (one listing); StorageError if the
    store cannot be listed."""
    found = {size_of(item.key) for item in store.list(checkpoint_folder(project.key))}
    return found - {None}


def removed_from_store(project: Project, store) -> list[int]:
    """Sizes of checkpoints that are neither in the store nor queued: they were published
    (or their queue row was deleted) and are gone from the store."""
    present = published_sizes(project, store)
    return list(
        Checkpoint.objects.filter(project=project, pending__isnull=True)
        .exclude(size__in=present)
        .order_by("size")
        .values_list("size", flat=True)
    )


def _origin(project: Project) -> str:
    return f"{log_name()}/{project.key}"


#: Checkpoint keys one store listing asks for: one request on S3 whatever the number.
LISTING_LIMIT = 1000


@dataclass(frozen=True)
class StoreView:
    """The sizes of the published checkpoints from ``start`` on, as one listing saw them."""

    start: int
    sizes: tuple[int, ...] | None  # None: the store could not be listed
    complete: bool  # the listing reached the end of the folder

    def covers(self, size: int) -> bool:
        """Whether this view answers "is anything published beyond ``size``?"."""
        if self.start > size:
            return False
        return self.complete or bool(self.sizes and max(self.sizes) > size)


def look(project: Project, start: int, store=None) -> StoreView:
    """One listing of the project's published checkpoints from size ``start`` on."""
    store = store or default_store()
    folder = checkpoint_folder(project.key)
    after = checkpoint_store_key(project.key, start - 1) if start else f"{folder}/"
    try:
        keys = store.keys_after(folder, after, LISTING_LIMIT)
    except StorageError as exc:
        logger.warning("the store could not be asked whether %s was rolled back: %s", project, exc)
        return StoreView(start, None, True)
    sizes = tuple(s for s in map(size_of, keys) if s is not None)
    return StoreView(start, sizes, len(keys) < LISTING_LIMIT)


def needs_look(project: Project, size: int, store=None) -> bool:
    """Whether an append at ``size`` would have to ask the store (this process does not know
    its latest published checkpoint at or beyond ``size``)."""
    store = store or default_store()
    known = _latest_published.get((store.url, project.key))
    return known is None or known[0] < size


def check_not_rolled_back(
    project: Project, size: int, root: bytes, view: StoreView | None = None, store=None
) -> None:
    """Raise :class:`RollbackError` when the store shows a log longer than ``size`` or a
    different one at ``size``.

    When this process already knows the store's latest checkpoint for the project at the head
    or beyond, no store request is made. Otherwise one listing names the published checkpoints
    from ``size`` on; an appender that expects contention passes ``view``, taken before it
    locked the log, so that the listing does not lengthen the lock. The checkpoint at ``size``
    is read back only by a process that has not seen the store yet: later, a different log at
    the same size can only come from appends made while the store was unreachable, and their
    publication then conflicts, which this process remembers. A store that cannot be reached
    does not stop the append (its checkpoint is queued; ``/healthz`` and ``verify_ledger``
    report the lag).
    """
    store = store or default_store()
    cache_key = (store.url, project.key)
    if cache_key in _conflicts:
        raise RollbackError(_differs(project, _conflicts[cache_key]))
    known = _latest_published.get(cache_key)
    if known is not None and known[0] >= size:
        if known[0] > size:
            raise RollbackError(_ahead(project, known[0], size))
        if known[1] != bytes(root):
            raise RollbackError(_differs(project, size))
        return
    if view is None or not view.covers(size):
        view = look(project, size, store)
    if view.sizes is None:
        return
    if any(s > size for s in view.sizes):
        raise RollbackError(_ahead(project, max(view.sizes), size))
    if size not in view.sizes:
        return
    if known is not None:
        _remember(store, project.key, size, bytes(root))
        return
    try:
        note = verify.parse_checkpoint(store.get_bytes(checkpoint_store_key(project.key, size)))
    except StorageError:
        return
    except ValueError:
        raise RollbackError(
            f"the published checkpoint of {project.key} at size {size} cannot be read"
        ) from None
    if note.root != bytes(root):
        raise RollbackError(_differs(project, size))
    _remember(store, project.key, size, note.root)


def _ahead(project: Project, published: int, size: int) -> str:
    return (
        f"the store holds a checkpoint of {project.key} at size {published} but the database's "
        f"log has only {size} entries: the database was rolled back (a restored backup?). "
        "Nothing was appended; restore the missing entries, then run verify_ledger"
    )


def _differs(project: Project, size: int) -> str:
    return (
        f"the database's log of {project.key} at size {size} differs from the checkpoint "
        "published at that size: the database was rolled back and rewritten. Nothing was "
        "appended; run verify_ledger"
    )
