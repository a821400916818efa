"""What every import shares: the report, the upload limit, grouped notes, and matching the
incoming requirements with the project's, then creating or updating them in bulk.

An import service (:func:`compliance.interchange.reqif.reqif_import`,
:func:`compliance.interchange.tables.table_import`) checks the role, reads its file into
:class:`Incoming` items, and in one transaction calls :func:`upsert`, plans and writes its links
with :mod:`compliance.links`, and appends its ledger entry with :func:`record_import`.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from compliance import reviews
from compliance.bulk import create_with_history
from compliance.interchange.values import valid_code
from compliance.models import CONTENT_FIELDS, Requirement, RequirementKind, RequirementStatus
from compliance.services import requirement_content_changed
from compliance.status import may_set, may_step, record_returns, return_to_review
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.models import EntryKind
from projects.models import Project
from projects.permissions import Action, require

__all__ = [
    "ImportReport",
    "Incoming",
    "Notes",
    "UploadTooLarge",
    "check_default_kind",
    "check_upload_size",
    "paused_gc",
    "file_label",
    "record_import",
    "refuse",
    "upsert",
    "withhold_review_statuses",
]

DERIVED_PREFIX = "REQ"
TITLE_MAX = Requirement._meta.get_field("title").max_length
SECTION_MAX = Requirement._meta.get_field("section").max_length

_BATCH = 1000
_MAX_EXAMPLES = 10
_UPDATE_FIELDS = [
    "kind",
    "title",
    "text",
    "text_xhtml",
    "status",
    "approved_digest",
    "approved_version",
    "version",
    "asil",
    "section",
    "position",
    "is_heading",
    "reqif_identifier",
    "attributes",
    "updated_at",
]


class UploadTooLarge(ValidationError):
    """A file over ``settings.SAFECASE_MAX_UPLOAD_BYTES`` (the API answers 413)."""


@dataclass
class ImportReport:
    """What an import did. ``requirements + headings`` is the number of imported items (SPEC-
    OBJECTs or table rows) and equals ``created + updated + unchanged``; for ReqIF, ``links +
    len(unmapped)`` is the number of SPEC-RELATIONs."""

    requirements: int = 0
    headings: int = 0
    links: int = 0
    unmapped: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    tool: str | None = None
    profile: str | None = None
    # What the file holds that a round trip cannot give back as it came.
    not_preserved: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector for a bulk step that makes many objects and no
    cycles (refcounting still frees them); it runs again, as it was, afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_upload_size(size: int) -> None:
    """Raise :class:`UploadTooLarge` when ``size`` bytes is over the installation's limit."""
    limit = settings.SAFECASE_MAX_UPLOAD_BYTES
    if size > limit:
        raise UploadTooLarge(
            {"file": f"The file has {size:,} bytes; the limit is {limit:,} bytes."},
            code="too_large",
        )


def refuse(message: str) -> ValidationError:
    """The refusal of a file that cannot be read: a ``ValidationError`` under ``file``."""
    return ValidationError({"file": message})


class Notes:
    """Warnings grouped by message, with a few examples each, so a large file gives a short
    list."""

    def __init__(self) -> None:
        self._examples: dict[str, list[str]] = {}
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, message: str, example: str | None = None) -> None:
        examples = self._examples.setdefault(message, [])
        self._counts[message] += 1
        if example is not None and len(examples) < _MAX_EXAMPLES:
            examples.append(example)

    def extend(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.add(message)

    def render(self) -> list[str]:
        out = []
        for message, examples in self._examples.items():
            count = self._counts[message]
            if not examples:
                out.append(message if count == 1 else f"{message} ({count} times)")
                continue
            more = f" and {count - len(examples)} more" if count > len(examples) else ""
            out.append(f"{message} ({count}: {', '.join(examples)}{more})")
        return out


def file_label(filename: str) -> str:
    """How the report and the ledger name an uploaded file: its printable base name."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200] or "upload"


@dataclass(slots=True)
class Incoming:
    """One requirement as read from a file, before it is matched with the project."""

    key: str  # reqif_identifier, or "" for table rows
    codes: list[str]  # code candidates, best first
    label: str  # how messages name it
    fields: dict  # model fields to set (kind, asil, status only when the file gives them)
    kept_unless_code: dict[str, str] = field(default_factory=dict)  # foreign ids -> attributes
    defaults: dict = field(default_factory=dict)  # fields set only when the row is created


@dataclass
class Outcome:
    """What :func:`upsert` did."""

    requirements: list[Requirement]  # aligned with the incoming items
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def withhold_review_statuses(user, project: Project, items: list[Incoming], notes) -> None:
    """Drop a status the importer's role may not set (approved, obsolete: a review decides
    those) from the items: a new requirement is then a draft, an existing one keeps its status.
    The report says which were withheld."""
    for item in items:
        status = item.fields.get("status")
        if status is not None and not may_set(user, project, status):
            del item.fields["status"]
            notes.add(
                "status not applied: approving or retiring a requirement is a review by a "
                "safety manager or an administrator (draft when new, unchanged otherwise)",
                f"{item.label}: {status}",
            )


def upsert(
    user,
    project: Project,
    items: list[Incoming],
    *,
    by_code: bool,
    default_kind: str,
    notes: Notes | None = None,
) -> Outcome:
    """Create or update the requirements of ``items`` in bulk; return them in order.

    Runs inside the import's transaction, which appends the ledger entry; the role is checked
    here again, as :func:`compliance.links.link_batch_write` checks it for the links. A status
    the file gives an existing requirement is applied only as a step of the status life cycle
    that the importer's role may take (:func:`compliance.status.may_step`); any other is kept
    as it was and listed in ``notes``.
    """
    require(user, project, Action.EDIT)
    existing = list(Requirement.objects.filter(project=project))
    by_identifier = {r.reqif_identifier: r for r in existing if r.reqif_identifier}
    by_code_map = {r.code: r for r in existing}
    taken = set(by_code_map)
    matched: set[int] = set()

    targets: list[Requirement | None] = []
    for item in items:
        found = None
        if by_code:
            found = by_code_map.get(item.codes[0])
        else:
            found = by_identifier.get(item.key)
            if found is None:
                for code in item.codes:
                    candidate = by_code_map.get(code)
                    if candidate is not None and not candidate.reqif_identifier:
                        found = candidate
                        break
        if found is not None and found.pk in matched:
            found = None
        if found is not None:
            matched.add(found.pk)
        targets.append(found)

    counter = _derived_counter(taken)
    now = timezone.now()
    new: list[Requirement] = []
    changed: list[Requirement] = []
    content_changed: list[Requirement] = []
    returned: list[Requirement] = []  # approved requirements whose content the file changed
    outcome = Outcome(requirements=[])
    for item, found in zip(items, targets, strict=True):
        if found is None:
            code = next((c for c in item.codes if valid_code(c) and c not in taken), None)
            if code is None:
                code = next(counter)
            taken.add(code)
            values = {"kind": default_kind, "asil": "QM", **item.defaults, **item.fields}
            attributes = dict(values.pop("attributes", {}))
            attributes.update({k: v for k, v in item.kept_unless_code.items() if v != code})
            requirement = Requirement(
                project=project,
                code=code,
                reqif_identifier=item.key,
                attributes=attributes,
                **values,
            )
            _bind_approval(requirement)
            new.append(requirement)
            outcome.requirements.append(requirement)
            outcome.created += 1
            continue
        values = dict(item.fields)
        wanted = values.get("status")
        if wanted is not None and not may_step(user, project, found.status, wanted):
            del values["status"]
            if notes is not None:
                notes.add(
                    "status not applied: the status life cycle has no such step for this role "
                    "(an approved requirement returns to draft, and an obsolete one comes back, "
                    "only by a review; the status is unchanged)",
                    f"{item.label}: {found.status} to {wanted}",
                )
        if "attributes" in values:
            attributes = dict(values["attributes"])
            attributes.update({k: v for k, v in item.kept_unless_code.items() if v != found.code})
            values["attributes"] = attributes
        if item.key and found.reqif_identifier != item.key:
            values["reqif_identifier"] = item.key
        if by_code and "text" in values and values["text"] != found.text:
            values["text_xhtml"] = ""
        names = [n for n, v in values.items() if getattr(found, n) != v]
        outcome.requirements.append(found)
        if not names:
            outcome.unchanged += 1
            continue
        for name in names:
            setattr(found, name, values[name])
        if any(n in CONTENT_FIELDS for n in names):
            found.version += 1
            content_changed.append(found)
            if "status" not in values and return_to_review(found):
                returned.append(found)  # approved was the old content
            _bind_approval(found)  # a reviewer's file that keeps "approved" approves anew
        elif "status" in names:
            _bind_approval(found)
        found.updated_at = now
        changed.append(found)
        outcome.updated += 1

    if new:
        create_with_history(new, Requirement, user)
    if changed:
        bulk_update_with_history(
            changed, Requirement, _UPDATE_FIELDS, batch_size=_BATCH, default_user=user
        )
    for requirement in content_changed:
        requirement_content_changed(requirement)
    record_returns(user, project, returned)
    return outcome


def _bind_approval(requirement: Requirement) -> None:
    """An import that approves (a reviewer's) cites the content it approved."""
    if requirement.status == RequirementStatus.APPROVED:
        requirement.approved_digest = reviews.requirement_digest(requirement)
        requirement.approved_version = requirement.version


def _derived_counter(taken: set[str]) -> Iterator[str]:
    pattern = re.compile(rf"^{DERIVED_PREFIX}-(\d+)$")
    highest = max((int(m.group(1)) for c in taken if (m := pattern.match(c))), default=0)
    number = highest
    while True:
        number += 1
        code = f"{DERIVED_PREFIX}-{number}"
        if code not in taken:
            yield code


def record_import(user, project: Project, subject: str, data: bytes, predicate: dict) -> None:
    """Append the import's one ledger entry: ``subject`` with the SHA-256 of the file's bytes."""
    digest = hashlib.sha256(data).hexdigest()
    ledger.append(
        project, [Record(EntryKind.CHANGE, [Subject(subject, digest)], predicate)], user=user
    )


def check_default_kind(default_kind: str) -> str:
    """``default_kind`` when it is a requirement kind, else a ``ValidationError`` naming it."""
    if default_kind not in RequirementKind.values:
        raise ValidationError(
            {
                "default_kind": f"Unknown kind {default_kind!r}; use "
                f"{', '.join(RequirementKind.values)}."
            }
        )
    return default_kind
