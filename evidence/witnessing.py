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
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
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


def _connection(url: str) -> http.client.HTTPConnection:
    pool = getattr(_connections, "pool", None)
    if pool is None:
        pool = _connections.pool = {}
    connection = pool.get(url)
    if connection is None:
        parts = urlsplit(url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
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


def _known_size(checkpoint: Checkpoint, witness: Witness) -> int:
    """The size ``witness`` last cosigned for this log, as far as this installation knows."""
    found = (
        WitnessCosignature.objects.filter(
            checkpoint__project_id=checkpoint.project_id, witness=witness.name
        )
        .order_by("-checkpoint__size")
        .values_list("checkpoint__size", flat=True)
        .first()
    )
    return found or 0


def _request(checkpoint: Checkpoint, old: int) -> bytes:
    proof = []
    if 0 < old < checkpoint.size:
        proof = ledger.consistency_proof(checkpoint.project, old, checkpoint.size)
    return format_request(old, proof, checkpoint.note)


def _ask(witness: Witness, body: bytes):
    try:
        return post_checkpoint(witness, body)
    except WitnessUnavailable as exc:
        return exc


def witness_checkpoint(checkpoint: Checkpoint, witnesses: list[Witness] | None = None):
    """Submit ``checkpoint`` to the witnesses that have not cosigned it; store what they
    return and publish the cosigned note. The witnesses are asked in parallel."""
    witnesses = configured_witnesses() if witnesses is None else witnesses
    report = WitnessReport(checkpoint.size)
    done = set(checkpoint.cosignatures.values_list("witness", flat=True))
    pending = {w: _known_size(checkpoint, w) for w in witnesses if w.name not in done}
    for _round in (1, 2):  # a 409 names the witness's size: one more request from there
        if not pending:
            break
        asked = {
            w: _request(checkpoint, old) for w, old in pending.items() if old <= checkpoint.size
        }
        report.skipped += [w.name for w, old in pending.items() if old > checkpoint.size]
        pending = {}
        answers = dict(zip(asked, _pool().map(_ask, asked, asked.values()), strict=True))
        for witness, answer in answers.items():
            if isinstance(answer, WitnessUnavailable):
                report.unavailable.append(witness.name)
                continue
            status, content_type, text = answer
            if status == 200:
                if _store(checkpoint, witness, text):
                    report.cosigned.append(witness.name)
                else:
                    report.refused.append(f"{witness.name}: a cosignature that does not verify")
            elif status == 409 and content_type.startswith(SIZE_CONTENT_TYPE) and _round == 1:
                held = int(text.strip()) if text.strip().isdigit() else -1
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
    if report.cosigned:
        publish_cosigned(checkpoint)
    return report


def _store(checkpoint: Checkpoint, witness: Witness, text: str) -> bool:
    """Keep the witness's cosignature lines that verify against its key; False if none."""
    for line in text.splitlines(keepends=True):
        if not line.startswith("\u2014 "):
            continue
        note = checkpoint.note + line
        try:
            found = verify.verify_cosignatures(note, [(witness.name, witness.public)])
        except ValueError:
            return False
        if witness.name not in found:
            continue  # a line by another key of the witness: ignored, as the protocol says
        try:
            with transaction.atomic():
                WitnessCosignature.objects.create(
                    checkpoint=checkpoint,
                    witness=witness.name,
                    key_id=witness.key_id,
                    timestamp=found[witness.name],
                    line=line,
                )
        except IntegrityError:
            pass  # stored by a concurrent submission
        return True
    return False


def cosigned_note(checkpoint: Checkpoint) -> str:
    """The checkpoint's note followed by every stored cosignature line."""
    lines = checkpoint.cosignatures.order_by("witness").values_list("line", flat=True)
    return checkpoint.note + "".join(lines)


def cosigned_store_key(project_key: str, size: int) -> str:
    return f"{COSIGNED_FOLDER}/{project_key}/{size:015d}.note"


def publish_cosigned(checkpoint: Checkpoint, store=None) -> bool:
    """Write the cosigned note to the store (replacing one with fewer cosignatures)."""
    store = store or default_store()
    try:
        store.put_bytes(
            cosigned_store_key(checkpoint.project.key, checkpoint.size),
            cosigned_note(checkpoint).encode("utf-8"),
        )
    except StorageError as exc:
        logger.warning("cosigned checkpoint %s not published: %s", checkpoint, exc)
        return False
    return True


# --------------------------------------------------------------------------------------------
# What verify_ledger checks
# --------------------------------------------------------------------------------------------


def quorum_problems(project, checkpoints: dict[int, tuple[str, object]], count: int) -> list[str]:
    """Problems with the witnessing of a project's log.

    ``checkpoints`` maps each trusted checkpoint's size to (note, created_at). Every stored
    cosignature must verify against the configured witness's key; a checkpoint older than the
    grace must be covered by a checkpoint at its size or beyond (within the ``count`` entries
    verified) that carries the quorum: the recomputed log shows the larger one extends it.
    """
    witnesses = configured_witnesses()
    if not witnesses:
        return []
    need = quorum(witnesses)
    keys = [(w.name, w.public) for w in witnesses]
    problems = []
    cosigners: dict[int, set[str]] = {}
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
