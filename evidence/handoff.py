"""Supplier to OEM hand-off (ISO 26262-8 clause 5, development interface agreement).

An installation imports another's certification package: the package verifier checks it
against the trust root the importer was given (and the witness policy, when one is), the zip is
kept in the store as an artifact, and one entry of the importer's ledger names the package
digest, the supplier's log origin and checkpoint, and the supplier's safety requirements with
their verification results, which are kept as read-only supplier claims (the supplier's element
as a Safety Element out of Context).

A newer package of the same supplier log must extend the one imported before: the RFC 9162
consistency proof between the two checkpoints is computed from the leaves the newer package
holds and checked against the root recorded at the earlier import. A package whose history is
not an extension (the supplier rewrote its log and signed it again) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Max

from evidence import ledger, verify
from evidence.ledger import Record, Subject
from evidence.membership import lock_log
from evidence.models import Artifact, ArtifactKind, EntryKind, SupplierClaim, SupplierPackage
from evidence.storage import default_store
from projects.models import Project
from projects.permissions import Action, require

STORE_PREFIX = "packages/sha256/"


class HandoffError(ValueError):
    """The package is refused; the message names the file as the user gave it."""


@dataclass(frozen=True)
class Claim:
    code: str
    kind: str
    title: str
    text: str
    asil: str
    status: str
    version: int
    entry: int
    result: str = ""
    method: str = ""
    summary: str = ""
    verification_entry: int | None = None


def read_policy(path: str) -> verify.WitnessPolicy:
    try:
        text = Path(path).read_bytes().decode("utf-8")
        return verify.parse_witness_policy(text)
    except OSError as exc:
        raise HandoffError(f"cannot read witness policy {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise HandoffError(f"witness policy {path}: {exc}") from exc


def read_trusted_keys(path: str) -> list[tuple[str, bytes]]:
    """The verifier keys in ``path``, one per line (``#`` lines and blank lines skipped)."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
        keys = [
            verify.parse_vkey(line.strip())[::2]
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    except OSError as exc:
        raise HandoffError(f"cannot read trusted key {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise HandoffError(f"trusted key {path}: {exc}") from exc
    if not keys:
        raise HandoffError(f"trusted key {path} holds no verifier key")
    return keys


def check_package(
    path: str,
    *,
    trusted_keys: list[tuple[str, bytes]],
    policy: verify.WitnessPolicy | None = None,
    policy_name: str = "",
) -> tuple[verify.PackageReport, tuple[str, ...]]:
    """The package verifier's check of ``path``: integrity, origin against ``trusted_keys``
    and, when given, the witness policy. Returns the report and the witnesses that cosigned."""
    if not trusted_keys:
        raise HandoffError("a package is imported only against a trusted key")
    try:
        report = verify.verify_package(path, trusted_keys=trusted_keys, workers=1)
    except ValueError as exc:
        raise HandoffError(f"{path}: {exc}") from exc
    if not report.origin_verified:  # trust roots were given, so the verifier said why
        raise HandoffError(f"{path}: its origin is not verified")
    witnesses: tuple[str, ...] = ()
    if policy is not None:
        try:
            witnesses = verify.check_witness_policy(report.note, policy)
        except ValueError as exc:
            raise HandoffError(f"{path}: witness policy {policy_name}: {exc}") from exc
    return report, witnesses


def claims_of(report: verify.PackageReport) -> list[Claim]:
    """The supplier's safety requirements at the package's checkpoint, each with the latest
    verification result recorded for its current version, as the signed entries state them."""
    requirements: dict[str, tuple[int, dict]] = {}
    verifications: dict[str, tuple[int, dict]] = {}
    for line in report.entry_lines:
        row = json.loads(line)
        subject = row["subject"]
        if not subject.startswith(("requirement:", "verification:")):
            continue
        statement = json.loads(
            base64.b64decode(json.loads(base64.b64decode(row["envelope"]))["payload"])
        )
        predicate = statement.get("predicate") or {}
        content = predicate.get("content")
        if not isinstance(content, dict):
            continue
        if row["kind"] == EntryKind.CHANGE and subject.startswith("requirement:"):
            code = subject.removeprefix("requirement:")
            if predicate.get("action") == "delete":
                requirements.pop(code, None)
            else:
                requirements[code] = (row["index"], content)
        elif row["kind"] == EntryKind.VALIDATION_RESULT and subject.startswith("verification:"):
            code = subject.removeprefix("verification:")
            previous = verifications.get(code)
            if previous is None or content.get("version", 0) >= previous[1].get("version", 0):
                verifications[code] = (row["index"], content)
    claims = []
    for code in sorted(requirements):
        index, content = requirements[code]
        if content.get("status") == "obsolete":
            continue
        version = int(content.get("version") or 1)
        fields = {}
        found = verifications.get(code)
        if found and int(found[1].get("version") or 0) == version:
            fields = {
                "result": str(found[1].get("result", "")),
                "method": str(found[1].get("method", "")),
                "summary": str(found[1].get("summary", "")),
                "verification_entry": found[0],
            }
        claims.append(
            Claim(
                code=code,
                kind=str(content.get("kind", "")),
                title=str(content.get("title", "")),
                text=str(content.get("text", "")),
                asil=str(content.get("asil", "")),
                status=str(content.get("status", "")),
                version=version,
                entry=index,
                **fields,
            )
        )
    return claims


def _extension_proof(
    project: Project, report: verify.PackageReport, path: str
) -> tuple[SupplierPackage | None, list[bytes]]:
    """The latest earlier import of the same supplier log, and the consistency proof from its
    checkpoint to the package's; :class:`HandoffError` when the package does not extend it."""
    previous = (
        SupplierPackage.objects.filter(project=project, origin=report.origin)
        .order_by("-size", "-pk")
        .first()
    )
    if previous is None:
        return None, []
    if report.size < previous.size:
        raise HandoffError(
            f"{path}: the supplier log {report.origin} has {report.size} entries in this "
            f"package, fewer than the {previous.size} of the package imported before "
            f"({previous.sha256[:12]}): an older package, or a log that shrank"
        )
    proof = verify.consistency_proof_from_leaves(list(report.leaves), previous.size)
    if not verify.verify_consistency(
        previous.size, report.size, proof, bytes.fromhex(previous.root), report.root
    ):
        raise HandoffError(
            f"{path}: the supplier log {report.origin} was rewritten: its checkpoint at "
            f"{report.size} entries is not an extension of the checkpoint at {previous.size} "
            f"(root {previous.root}) imported from package {previous.sha256[:12]}; the two "
            "histories differ, so the package is refused"
        )
    return previous, proof


def package_import(
    *,
    user,
    project: Project,
    path: str,
    trusted_keys: list[tuple[str, bytes]],
    policy: verify.WitnessPolicy | None = None,
    policy_name: str = "",
    citations: Mapping[str, str] | None = None,
    local_requirements: Collection[str] | None = None,
) -> SupplierPackage:
    """Verify the package at ``path`` and import it into ``project``; ``citations`` maps the
    importer's requirement codes to the supplier requirement each cites. Nothing is written
    when anything is refused."""
    require(user, project, Action.EDIT)
    citations = dict(citations or {})
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise HandoffError(f"cannot read {path}: {exc.strerror or exc}") from exc
    sha256 = hashlib.sha256(data).hexdigest()
    report, witnesses = check_package(
        path, trusted_keys=trusted_keys, policy=policy, policy_name=policy_name
    )
    try:
        unchanged = hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha256
    except OSError:
        unchanged = False
    if not unchanged:
        raise HandoffError(f"{path} changed while it was being verified")
    claims = claims_of(report)
    codes = {claim.code for claim in claims}
    cited_by: dict[str, str] = {}
    for local, supplier in sorted(citations.items()):
        if supplier not in codes:
            raise HandoffError(
                f"{path} holds no supplier requirement {supplier} (cited by {local})"
            )
        if local_requirements is not None and local not in local_requirements:
            raise HandoffError(f"{project.key} has no requirement {local} to cite {supplier}")
        if supplier in cited_by:
            raise HandoffError(f"{supplier} is cited twice ({cited_by[supplier]}, {local})")
        cited_by[supplier] = local

    key = f"{STORE_PREFIX}{sha256}.zip"
    name = Path(path).name
    with transaction.atomic():
        lock_log(project)
        if SupplierPackage.objects.filter(project=project, sha256=sha256).exists():
            raise HandoffError(f"{path} (sha256 {sha256[:12]}) was imported into {project.key}")
        previous, proof = _extension_proof(project, report, path)
        if previous is not None:  # citations carry over unless given again
            given = set(cited_by.values())
            for claim in previous.claims.exclude(cited_by=""):
                if (
                    claim.code in codes
                    and claim.code not in cited_by
                    and claim.cited_by not in given
                ):
                    cited_by[claim.code] = claim.cited_by
        default_store().put_bytes(key, data, overwrite=False)
        predicate = {
            "file": name,
            "store": {"key": key, "bytes": len(data)},
            "origin": report.origin,
            "supplierProject": report.project,
            "baseline": report.baseline,
            "checkpoint": {"size": report.size, "root": report.root.hex()},
            "trustedBy": list(report.trusted_by),
            "witnesses": list(witnesses),
            "previous": (
                None
                if previous is None
                else {
                    "package": previous.sha256,
                    "size": previous.size,
                    "root": previous.root,
                    "consistencyProof": [node.hex() for node in proof],
                }
            ),
            "claims": [
                {
                    "code": c.code,
                    "version": c.version,
                    "entry": c.entry,
                    "result": c.result,
                    "verificationEntry": c.verification_entry,
                    "citedBy": cited_by.get(c.code, ""),
                }
                for c in claims
            ],
        }
        (entry,) = ledger.append(
            project,
            [
                Record(
                    EntryKind.SUPPLIER_PACKAGE,
                    [Subject(f"supplier-package:{report.origin}", sha256)],
                    predicate,
                )
            ],
            user=user,
        )
        latest = Artifact.objects.filter(
            project=project, kind=ArtifactKind.SUPPLIER_PACKAGE, name=report.origin
        ).aggregate(v=Max("version"))
        artifact = Artifact.objects.create(
            project=project,
            kind=ArtifactKind.SUPPLIER_PACKAGE,
            name=report.origin,
            version=(latest["v"] or 0) + 1,
            uri=name,
            sha256=sha256,
            manifest_key=key,
            object_count=1,
            total_bytes=len(data),
            entry=entry,
            created_by=user,
        )
        package = SupplierPackage.objects.create(
            project=project,
            origin=report.origin,
            supplier_project=report.project,
            baseline=report.baseline,
            size=report.size,
            root=report.root.hex(),
            sha256=sha256,
            file_name=name,
            artifact=artifact,
            entry=entry,
            imported_by=user,
        )
        SupplierClaim.objects.bulk_create(
            SupplierClaim(
                package=package,
                code=c.code,
                kind=c.kind[:16],
                title=c.title[:300],
                text=c.text,
                asil=c.asil[:8],
                status=c.status[:32],
                version=c.version,
                entry=c.entry,
                result=c.result[:16],
                method=c.method[:100],
                summary=c.summary,
                verification_entry=c.verification_entry,
                cited_by=cited_by.get(c.code, ""),
            )
            for c in claims
        )
    return package
