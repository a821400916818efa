"""Asking independent witnesses to cosign each new checkpoint (C2SP tlog-witness).

A log signed by one installation could still be rewritten, or shown differently to two
readers, by whoever holds its key, its database and its store. A witness (another site, the
supplier or the OEM, the assessor) remembers the latest checkpoint it cosigned for each log and
cosigns a new one only when a consistency proof shows it extends that one; a quorum of
cosignatures on a checkpoint therefore shows that this is the one history the log has.

``SAFECASE_WITNESSES`` names each witness by its URL and verifier key. After an append has
committed, its checkpoint is submitted to every witness: in the embedded mode at once, in the
same process; with a broker by the task ``evidence.witness_checkpoint``, which retries while a
witness cannot be reached. For each witness the request carries the size that witness last
cosigned (from its stored cosignatures; a 409 answer tells the size it holds, and the request is
made again from there) and the consistency proof from that size. Each cosignature returned is
checked against the witness's key before it is stored; the checkpoint's note with every stored
cosignature is then written to the store under ``cosigned/<project>/``. ``verify_ledger`` fails
on a checkpoint that, after ``SAFECASE_WITNESS_GRACE`` seconds, no checkpoint cosigned by the
quorum covers (:func:`quorum_problems`).
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Max
from django.utils import timezone

from evidence import ledger, verify
from evidence.models import Checkpoint, WitnessCosignature
from evidence.storage import StorageError, default_store

logger = logging.getLogger(__name__)

COSIGNED_FOLDER = "cosigned"
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class WitnessUnavailable(Exception):
    """A witness could not be reached or answered with a server error: worth retrying."""


@dataclass(frozen=True)
class Witness:
    url: str
    name: str
    public: bytes

    @property
    def key_id(self) -> str:
        return verify.cosigner_key_id(self.name, self.public).hex()


def configured_witnesses() -> list[Witness]:
    """The witnesses of ``SAFECASE_WITNESSES``; ImproperlyConfigured naming a bad item."""
    items = settings.SAFECASE_WITNESSES
    if isinstance(items, str):
        items = [i.strip() for i in items.split(",") if i.strip()]
    witnesses = []
    for number, item in enumerate(items, start=1):
        parts = item.split()
        if len(parts) != 2 or urlsplit(parts[0]).scheme not in ("http", "https"):
            raise ImproperlyConfigured(
                f"SAFECASE_WITNESSES item {number} is not '<http(s) URL> <witness verifier key>'"
            )
        try:
            name, public = verify.parse_cosigner_vkey(parts[1])
        except ValueError as exc:
            raise ImproperlyConfigured(f"SAFECASE_WITNESSES item {number}: {exc}") from None
        witnesses.append(Witness(parts[0].rstrip("/"), name, public))
    if len({w.name for w in witnesses}) != len(witnesses):
        raise ImproperlyConfigured("SAFECASE_WITNESSES names a witness twice")
    return witnesses


def quorum(witnesses: list[Witness]) -> int:
    wanted = settings.SAFECASE_WITNESS_QUORUM
    return min(wanted, len(witnesses)) if wanted > 0 else len(witnesses)


# --------------------------------------------------------------------------------------------
# The HTTP client: one keep-alive connection per witness and thread.
# --------------------------------------------------------------------------------------------

_connections = threading.local()
# Threads that keep their connections between submissions (keep-alive, as the protocol
# recommends): a checkpoint's witnesses are asked in parallel, each on one of them.
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="witness")
        return _executor


class _NoDelay:
    """Send each request at once: http.client writes the headers and the body separately, and
    Nagle's algorithm would hold the body back until the witness acknowledged the headers."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTP(_NoDelay, http.client.HTTPConnection):
    pass


class _HTTPS(_NoDelay, http.client.HTTPSConnection):
    pass


def _connection(url: str) -> http.client.HTTPConnection:
    pool = getattr(_connections, "pool", None)
    if pool is None:
        pool = _connections.pool = {}
    connection = pool.get(url)
    if connection is None:
        parts = urlsplit(url)
        kind = _HTTPS if parts.scheme == "https" else _HTTP
        connection = kind(parts.hostname, parts.port, timeout=settings.SAFECASE_WITNESS_TIMEOUT)
        pool[url] = connection
    return connection


def format_request(old_size: int, proof: list[bytes], note: str) -> bytes:
    """The add-checkpoint body: ``old <size>``, the proof in base64 lines, a blank line, the
    signed checkpoint."""
    import base64

    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode("utf-8")


def post_checkpoint(witness: Witness, body: bytes) -> tuple[int, str, str]:
    """POST add-checkpoint; (status, content type, text). WitnessUnavailable when the witness
    cannot be reached (the connection is tried afresh once) or fails on its side."""
    path = (urlsplit(witness.url).path or "").rstrip("/") + "/add-checkpoint"
    for attempt in (1, 2):
        connection = _connection(witness.url)
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            break
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            _connections.pool.pop(witness.url, None)
            if attempt == 2:
                raise WitnessUnavailable(
                    f"witness {witness.name} cannot be reached: {exc}"
                ) from None
    if response.status >= 500:
        raise WitnessUnavailable(f"witness {witness.name} answered {response.status}")
    return response.status, response.getheader("Content-Type") or "", text


# --------------------------------------------------------------------------------------------
# Submitting a checkpoint
# --------------------------------------------------------------------------------------------


@dataclass
class WitnessReport:
    checkpoint: int  # size
    cosigned: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already cosigned a larger checkpoint
    unavailable: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the witness's answer, one line each


# Per process: project id -> {witness name: the size it last cosigned or said it holds}. Read
# from the stored cosignatures once per project; another process's submissions make it stale,
# which costs one 409 answer (it names the size) and one more request.
_known: dict[int, dict[str, int]] = {}


def _known_sizes(checkpoint: Checkpoint) -> dict[str, int]:
    """The size each witness last cosigned for this log, as far as this process knows."""
    known = _known.get(checkpoint.project_id)
    if known is None:
        rows = (
            WitnessCosignature.objects.filter(checkpoint__project_id=checkpoint.project_id)
            .values("witness")
            .annotate(size=Max("checkpoint__size"))
            .values_list("witness", "size")
        )
        known = _known[checkpoint.project_id] = dict(rows)
    return known


def forget() -> None:
    """Drop what this process remembers of the witnesses (between tests)."""
    _known.clear()


def _requests(checkpoint: Checkpoint, olds: dict[Witness, int]) -> dict[Witness, bytes]:
    """The request body for each witness; one proof per distinct old size."""
    bodies: dict[int, bytes] = {}
    for old in set(olds.values()):
        proof = []
        if 0 < old < checkpoint.size:
            proof = ledger.consistency_proof(
                checkpoint.project, old, checkpoint.size, current=checkpoint.size
            )
        bodies[old] = format_request(old, proof, checkpoint.note)
    return {witness: bodies[old] for witness, old in olds.items()}


def _ask(witness: Witness, body: bytes):
    try:
        return post_checkpoint(witness, body)
    except WitnessUnavailable as exc:
        return exc


def witness_checkpoint(
    checkpoint: Checkpoint, witnesses: list[Witness] | None = None, *, background: bool = False
) -> WitnessReport:
    """Submit ``checkpoint`` to the witnesses that have not cosigned it, in parallel; store
    the cosignatures that verify (one statement) and publish the cosigned note, on a
    background thread when ``background`` (see :func:`wait_for_publications`)."""
    witnesses = configured_witnesses() if witnesses is None else witnesses
    report = WitnessReport(checkpoint.size)
    known = _known_sizes(checkpoint)
    before = dict(known)
    pending = {w: known.get(w.name, 0) for w in witnesses}
    if any(size == checkpoint.size for size in pending.values()):
        done = set(checkpoint.cosignatures.values_list("witness", flat=True))
        pending = {w: size for w, size in pending.items() if w.name not in done}
    rows = []
    for _round in (1, 2):  # a 409 names the witness's size: one more request from there
        if not pending:
            break
        asked = _requests(
            checkpoint, {w: old for w, old in pending.items() if old <= checkpoint.size}
        )
        report.skipped += [w.name for w, old in pending.items() if old > checkpoint.size]
        pending = {}
        answers = dict(zip(asked, _pool().map(_ask, asked, asked.values()), strict=True))
        for witness, answer in answers.items():
            if isinstance(answer, WitnessUnavailable):
                report.unavailable.append(witness.name)
                continue
            status, content_type, text = answer
            if status == 200:
                row = _cosignature(checkpoint, witness, text)
                if row is not None:
                    rows.append(row)
                    report.cosigned.append(witness.name)
                    known[witness.name] = max(known.get(witness.name, 0), checkpoint.size)
                else:
                    report.refused.append(f"{witness.name}: a cosignature that does not verify")
            elif status == 409 and content_type.startswith(SIZE_CONTENT_TYPE) and _round == 1:
                held = int(text.strip()) if text.strip().isdigit() else -1
                if held >= 0:
                    known[witness.name] = held
                if held > checkpoint.size:
                    report.skipped.append(witness.name)
                elif held >= 0:
                    pending[witness] = held
                else:
                    report.refused.append(f"{witness.name}: 409 without a size")
            else:
                report.refused.append(f"{witness.name}: {status} {text.strip()[:200]}")
    for line in report.refused:
        logger.error("witness refused checkpoint %s: %s", checkpoint, line)
    if rows:
        WitnessCosignature.objects.bulk_create(rows, ignore_conflicts=True)
        fresh = not any(size >= checkpoint.size for size in before.values())
        lines = sorted((row.witness, row.line) for row in rows) if fresh else None
        publish_cosigned(checkpoint, background=background, lines=lines)
    return report


def _cosignature(checkpoint: Checkpoint, witness: Witness, text: str):
    """The witness's cosignature line that verifies against its key, as an unsaved row; None
    if there is none or a line claiming its key does not verify."""
    for line in text.splitlines(keepends=True):
        if not line.startswith("\u2014 "):
            continue
        note = checkpoint.note + line
        try:
            found = verify.verify_cosignatures(note, [(witness.name, witness.public)])
        except ValueError:
            return None
        if witness.name not in found:
            continue  # a line by another key of the witness: ignored, as the protocol says
        return WitnessCosignature(
            checkpoint=checkpoint,
            witness=witness.name,
            key_id=witness.key_id,
            timestamp=found[witness.name],
            line=line,
        )
    return None


def cosigned_note(checkpoint: Checkpoint) -> str:
    """The checkpoint's note followed by every stored cosignature line."""
    lines = checkpoint.cosignatures.order_by("witness").values_list("line", flat=True)
    return checkpoint.note + "".join(lines)


def cosigned_store_key(project_key: str, size: int) -> str:
    return f"{COSIGNED_FOLDER}/{project_key}/{size:015d}.note"


_publisher: ThreadPoolExecutor | None = None
_publications: list[Future] = []


def publish_cosigned(
    checkpoint: Checkpoint, store=None, *, background: bool = False, lines=None
) -> bool:
    """Write the cosigned note to the store (replacing one with fewer cosignatures). With
    ``background`` the note is read now and written by a thread of its own, in order, so that
    the store's flush stays out of the request (the embedded mode); True then means queued.
    ``lines`` ((witness, line) pairs in witness order) are every cosignature of the checkpoint,
    when the caller just stored them all, which saves reading them back."""
    global _publisher
    store = store or default_store()
    key = cosigned_store_key(checkpoint.project.key, checkpoint.size)
    note = checkpoint.note + "".join(line for _, line in lines) if lines else None
    data = (note or cosigned_note(checkpoint)).encode("utf-8")
    if background:
        with _executor_lock:
            if _publisher is None:
                _publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cosigned")
            _publications[:] = [f for f in _publications if not f.done()]
            _publications.append(_publisher.submit(_put, store, key, data))
        return True
    return _put(store, key, data)


def wait_for_publications() -> None:
    """Wait until the cosigned notes queued by :func:`publish_cosigned` are written."""
    wait(list(_publications))


def _put(store, key: str, data: bytes) -> bool:
    try:
        store.put_bytes(key, data)
    except StorageError as exc:
        logger.warning("cosigned checkpoint %s not published: %s", key, exc)
        return False
    return True


# --------------------------------------------------------------------------------------------
# What verify_ledger checks
# --------------------------------------------------------------------------------------------


def _published_cosigners(project, checkpoints, keys, store) -> dict[int, set[str]]:
    """Witnesses whose valid cosignatures the store's cosigned notes carry, by size: copies
    the database cannot take back. A note that is not of a trusted checkpoint counts nothing."""
    found: dict[int, set[str]] = {}
    try:
        items = list(store.list(f"{COSIGNED_FOLDER}/{project.key}"))
    except StorageError:
        return found
    for item in items:
        try:
            note = verify.parse_checkpoint(store.get_bytes(item.key))
            mine = checkpoints.get(note.size)
            if mine is None or verify.parse_checkpoint(mine[0]).body != note.body:
                continue
            found[note.size] = set(verify.verify_cosignatures(store.get_bytes(item.key), keys))
        except (StorageError, ValueError):
            continue  # the database's rows are checked and named below
    return found


def quorum_problems(
    project, checkpoints: dict[int, tuple[str, object]], count: int, store=None
) -> list[str]:
    """Problems with the witnessing of a project's log.

    ``checkpoints`` maps each trusted checkpoint's size to (note, created_at). Every stored
    cosignature must verify against the configured witness's key; a checkpoint older than the
    grace must be covered by a checkpoint at its size or beyond (within the ``count`` entries
    verified) that carries the quorum: the recomputed log shows the larger one extends it.
    Cosignatures count from the database and from the cosigned notes in the store.
    """
    witnesses = configured_witnesses()
    if not witnesses:
        return []
    need = quorum(witnesses)
    keys = [(w.name, w.public) for w in witnesses]
    problems = []
    cosigners = _published_cosigners(project, checkpoints, keys, store or default_store())
    rows = WitnessCosignature.objects.filter(checkpoint__project=project).values_list(
        "checkpoint__size", "witness", "line"
    )
    for size, name, line in rows.iterator():
        if size not in checkpoints:
            continue
        try:
            found = verify.verify_cosignatures(checkpoints[size][0] + line, keys)
        except ValueError as exc:
            problems.append(f"checkpoint at size {size}: {exc}")
            continue
        if name not in found:
            problems.append(
                f"checkpoint at size {size}: the cosignature stored for {name} is not by a "
                "configured witness key"
            )
            continue
        cosigners.setdefault(size, set()).add(name)
    witnessed = sorted(s for s, names in cosigners.items() if len(names) >= need and s <= count)
    grace = settings.SAFECASE_WITNESS_GRACE
    now = timezone.now()
    late = [
        size
        for size, (_, created) in sorted(checkpoints.items())
        if (now - created).total_seconds() > grace and not any(s >= size for s in witnessed)
    ]
    if late:
        latest = max(late)
        names = cosigners.get(latest, set())
        missing = [w.name for w in witnesses if w.name not in names]
        shown = ", ".join(str(s) for s in late[:10]) + (" and more" if len(late) > 10 else "")
        problems.append(
            f"checkpoints of {project.key} at sizes {shown} lack the quorum of {need} of "
            f"{len(witnesses)} witness cosignatures for longer than the grace of {grace} s; "
            f"the latest has none from {', '.join(missing)}"
        )
    return problems
