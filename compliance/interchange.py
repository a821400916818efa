"""Requirements in and out of Safecase: ReqIF with DOORS, Polarion, Codebeamer and ProR, and
CSV / Excel tables.

Every import is one transaction with one ledger entry for the whole file (subject
``reqif-import:<file>`` or ``table-import:<file>``, digest the SHA-256 of the file's bytes):
either all of it lands or nothing changes. Imported data is never silently dropped: what could
not be imported is listed in the report's ``unmapped`` (with the reason), what was imported but
deserves a look (a lowered ASIL, an unknown relation type) in ``warnings``.

ReqIF import (:func:`reqif_import`)
    * Each SPEC-OBJECT becomes a :class:`~compliance.models.Requirement`, keyed by its
      ``reqif_identifier``: importing the same file again updates instead of duplicating. A
      requirement created in Safecase and exported is recognised by its code when it has no
      identifier yet.
    * The code of a new requirement is the object's ``Code`` attribute, its foreign id
      (``ReqIF.ForeignID``, DOORS absolute number, ProR ``ID``) or the specification's
      ``ReqIF.Prefix`` followed by the foreign id, the first that is a valid, unused code;
      otherwise ``REQ-<n>`` (next free number, in document order). Once given, a code never
      changes on re-import.
    * Kind comes from a ``Kind`` / ``Type`` attribute when its value names one (FSR, TSR, SW,
      HW, SOTIF, or their long names), else ``default_kind``. The ASIL comes from an attribute
      named like ``ASIL`` when it parses (``ASIL B`` and ``B (D)`` are read as ``B`` and
      ``B(D)``), else QM for a new requirement (an unreadable value is reported and the
      requirement's current ASIL kept on re-import). ``Status`` maps onto the Safecase
      statuses by value or label. Other values are kept in ``attributes``.
    * Headings (objects that only name a section) are requirements with ``is_heading``; the
      SPECIFICATION tree gives ``section`` (heading titles from the root, joined by
      :data:`SECTION_SEPARATOR`) and ``position`` (document order). A document Safecase
      wrote carries each section as an attribute too, so a section without a heading above it
      survives the round trip. Text is kept as the ReqIF reader renders it (runs of spaces
      collapsed, no empty lines), so a re-import compares like with like.
    * A content change (title, text, ASIL, kind) bumps the version and turns the links of
      the requirement suspect, as :func:`compliance.services.requirement_update` does.
    * SPEC-RELATIONs become trace links. The relation type name picks the kind (see
      :func:`link_kind_for`). Every link is checked by the trace-link policy of
      :mod:`compliance.links`, the one :func:`compliance.services.link_create` uses (an end
      outside the project, a self link, a derives-from cycle, a derives-from link that lowers
      the ASIL without a recorded decomposition). ``on_violation`` chooses what a broken rule
      does: ``"refuse"`` (the default) refuses the whole import, naming the relations, and
      writes nothing; ``"note"`` imports the rest, creates an ASIL-lowering link and reports
      it in ``warnings`` (the gap analysis shows it), and lists a link that cannot exist (a
      self link, a cycle) in ``unmapped``. A relation whose end is not a requirement of the
      project, or that repeats another relation, is listed in ``unmapped`` in both modes.

ReqIF export (:func:`reqif_export`)
    ReqIF 1.2 with every requirement and heading, the attributes ASIL, Kind, Status, Version,
    Code and Section plus the stored extra attributes, every requirement-to-requirement link
    with its kind as relation type, and one specification whose tree is rebuilt from section
    and position. Links to safety goals are not written: goals are not ReqIF objects here.

Tables (:func:`table_import`)
    ``.csv`` (UTF-8 with or without BOM, ``,`` or ``;``) and ``.xlsx`` (first sheet, values not
    formulas; macro-enabled and legacy workbooks are refused). The first row names the
    columns; see :data:`TABLE_FIELDS`. Rows are matched by code. A row with an invalid code,
    kind, ASIL or status is not imported and is listed in ``unmapped`` with its row number;
    a ``parent`` column (codes of requirements or safety goals, separated by spaces, commas or
    semicolons) creates derives-from links under the same rules and the same
    ``on_violation`` as ReqIF relations.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from compliance import archives, iso26262, xmlsafe
from compliance.links import REFUSE, LinkBatch, check_on_violation, link_batch_write
from compliance.models import (
    CONTENT_FIELDS,
    LinkKind,
    Requirement,
    RequirementKind,
    RequirementStatus,
    SafetyGoal,
    TraceLink,
    code_validator,
)
from compliance.reqif import _ROLES as _READER_ROLES
from compliance.reqif import (
    DEFAULT_MAX_ARCHIVE_FILES,
    Hierarchy,
    ReqIFDocument,
    ReqIFError,
    Specification,
    SpecObject,
    SpecRelation,
    parse_reqif,
    read_reqif_archive,
    write_reqif,
)
from compliance.services import _on_requirement_changed, may_set_status
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.models import EntryKind
from projects.models import Project
from projects.permissions import Action, require

__all__ = [
    "SECTION_SEPARATOR",
    "TABLE_FIELDS",
    "ImportReport",
    "UploadTooLarge",
    "check_upload_size",
    "link_kind_for",
    "reqif_export",
    "reqif_import",
    "table_import",
]

SECTION_SEPARATOR = " / "
TABLE_FIELDS = ("code", "kind", "title", "text", "asil", "status", "section", "parent")
MAX_TABLE_ROWS = 100_000
MAX_WORKBOOK_ENTRIES = 10_000
DERIVED_PREFIX = "REQ"

_BATCH = 1000
_MAX_EXAMPLES = 10
_TITLE_MAX = Requirement._meta.get_field("title").max_length
_SECTION_MAX = Requirement._meta.get_field("section").max_length
_CODE_MAX = Requirement._meta.get_field("code").max_length
_IDENTIFIER_MAX = Requirement._meta.get_field("reqif_identifier").max_length
_NCNAME = re.compile(r"^[^\W\d][\w.\-]*$")
_WRITER_STANDARD_NAMES = frozenset(
    ("ReqIF.ForeignID", "ReqIF.Name", "ReqIF.ChapterName", "ReqIF.Text")
)
_KIND_ATTRIBUTES = frozenset(("kind", "type", "requirement kind", "requirement type"))
_EXPORT_ATTRIBUTES = ("ASIL", "Kind", "Status", "Version", "Code", "Section")
_UPDATE_FIELDS = [
    "kind",
    "title",
    "text",
    "text_xhtml",
    "status",
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

    def as_json(self) -> dict:
        return asdict(self)


def check_upload_size(size: int) -> None:
    """Raise :class:`UploadTooLarge` when ``size`` bytes is over the installation's limit."""
    limit = settings.SAFECASE_MAX_UPLOAD_BYTES
    if size > limit:
        raise UploadTooLarge(
            {"file": f"The file has {size:,} bytes; the limit is {limit:,} bytes."},
            code="too_large",
        )


def _refuse(message: str) -> ValidationError:
    return ValidationError({"file": message})


class _Notes:
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


# --- Value mapping ---------------------------------------------------------------------------


def _normalised(name: str) -> str:
    return " ".join(name.split()).casefold()


def _valid_code(code: str) -> bool:
    if not code or len(code) > _CODE_MAX:
        return False
    try:
        code_validator(code)
    except ValidationError:
        return False
    return True


_KIND_WORDS = (
    ("sotif", RequirementKind.SOTIF),
    ("functional safety", RequirementKind.FSR),
    ("technical safety", RequirementKind.TSR),
    ("software", RequirementKind.SW),
    ("hardware", RequirementKind.HW),
)
_KIND_CODES = {
    "FSR": RequirementKind.FSR,
    "TSR": RequirementKind.TSR,
    "SW": RequirementKind.SW,
    "SWSR": RequirementKind.SW,
    "SSR": RequirementKind.SW,
    "HW": RequirementKind.HW,
    "HWSR": RequirementKind.HW,
    "HSR": RequirementKind.HW,
    "SOTIF": RequirementKind.SOTIF,
}


def kind_for(value: str) -> str | None:
    """The requirement kind a tool's value names ("FSR", "HWSR", "Software requirement"), or
    None."""
    text = value.strip()
    if not text:
        return None
    code = re.sub(r"[\s_-]", "", text).upper()
    if code in _KIND_CODES:
        return _KIND_CODES[code].value
    lowered = _normalised(text)
    for word, kind in _KIND_WORDS:
        if word in lowered:
            return kind.value
    return None


def asil_for(value: str) -> str | None:
    """The ASIL notation a tool's value gives ("ASIL B" -> "B", "b (d)" -> "B(D)"), or None."""
    text = re.sub(r"^\s*ASIL[\s_-]*", "", value, flags=re.IGNORECASE)
    text = re.sub(r"\s+", "", text).upper()
    try:
        return str(iso26262.parse_asil(text))
    except ValueError:
        return None


_STATUS_NAMES = {
    **{s.value: s.value for s in RequirementStatus},
    **{_normalised(s.label): s.value for s in RequirementStatus},
    "in review": RequirementStatus.IN_REVIEW.value,
    "inreview": RequirementStatus.IN_REVIEW.value,
}


def status_for(value: str) -> str | None:
    return _STATUS_NAMES.get(_normalised(value).replace("-", " "))


def _is_asil_attribute(normalised: str) -> bool:
    words = re.sub(r"[_\-()]", " ", normalised).split()
    return "asil" in words and len(words) <= 2


_RELATION_WORDS = (
    (("derive", "parent", "refine"), LinkKind.DERIVES_FROM),
    (("satisf",), LinkKind.SATISFIES),
    (("verif", "test"), LinkKind.VERIFIES),
    (("implement",), LinkKind.IMPLEMENTS),
    (("mitigat",), LinkKind.MITIGATES),
)


def link_kind_for(type_name: str | None) -> tuple[str, bool]:
    """``(link kind, recognised)`` for a ReqIF relation type name; unknown names give
    derives-from and False."""
    lowered = (type_name or "").casefold()
    if lowered in LinkKind.values:
        return lowered, True
    for words, kind in _RELATION_WORDS:
        if any(word in lowered for word in words):
            return kind.value, True
    return LinkKind.DERIVES_FROM.value, False


def _identifier_key(identifier: str) -> str:
    """The ``reqif_identifier`` stored for a ReqIF IDENTIFIER (hashed when too long)."""
    if len(identifier) <= _IDENTIFIER_MAX:
        return identifier
    return "sha256:" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def _file_label(filename: str) -> str:
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200] or "upload"


# --- Requirements: match, code, create or update ---------------------------------------------


@dataclass(slots=True)
class _Incoming:
    """One requirement as read from a file, before it is matched with the project."""

    key: str  # reqif_identifier, or "" for table rows
    codes: list[str]  # code candidates, best first
    label: str  # how messages name it
    fields: dict  # model fields to set (kind, asil, status only when the file gives them)
    kept_unless_code: dict[str, str] = field(default_factory=dict)  # foreign ids -> attributes
    defaults: dict = field(default_factory=dict)  # fields set only when the row is created


@dataclass
class _Outcome:
    requirements: list[Requirement]  # aligned with the incoming items
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _withhold_review_statuses(user, project: Project, items: list[_Incoming], notes) -> None:
    """Drop a status the importer's role may not set (approved, obsolete: a review decides
    those) from the items: a new requirement is then a draft, an existing one keeps its status.
    The report says which were withheld."""
    for item in items:
        status = item.fields.get("status")
        if status is not None and not may_set_status(user, project, status):
            del item.fields["status"]
            notes.add(
                "status not applied: approving or retiring a requirement is a review by a "
                "safety manager or an administrator (draft when new, unchanged otherwise)",
                f"{item.label}: {status}",
            )


def _upsert(
    user, project: Project, items: list[_Incoming], *, by_code: bool, default_kind: str
) -> _Outcome:
    """Create or update the requirements of ``items`` in bulk; return them in order."""
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
    outcome = _Outcome(requirements=[])
    for item, found in zip(items, targets, strict=True):
        if found is None:
            code = next((c for c in item.codes if _valid_code(c) and c not in taken), None)
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
            new.append(requirement)
            outcome.requirements.append(requirement)
            outcome.created += 1
            continue
        values = dict(item.fields)
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
            if found.status == RequirementStatus.APPROVED and "status" not in values:
                found.status = RequirementStatus.IN_REVIEW  # approved was the old content
        found.updated_at = now
        changed.append(found)
        outcome.updated += 1

    if new:
        bulk_create_with_history(new, Requirement, batch_size=_BATCH, default_user=user)
    if changed:
        bulk_update_with_history(
            changed, Requirement, _UPDATE_FIELDS, batch_size=_BATCH, default_user=user
        )
    for requirement in content_changed:
        _on_requirement_changed(requirement)
    return outcome


def _derived_counter(taken: set[str]) -> Iterator[str]:
    pattern = re.compile(rf"^{DERIVED_PREFIX}-(\d+)$")
    highest = max((int(m.group(1)) for c in taken if (m := pattern.match(c))), default=0)
    number = highest
    while True:
        number += 1
        code = f"{DERIVED_PREFIX}-{number}"
        if code not in taken:
            yield code


def _record_import(user, project: Project, subject: str, data: bytes, predicate: dict) -> None:
    digest = hashlib.sha256(data).hexdigest()
    ledger.append(
        project, [Record(EntryKind.CHANGE, [Subject(subject, digest)], predicate)], user=user
    )


def _check_default_kind(default_kind: str) -> str:
    if default_kind not in RequirementKind.values:
        raise ValidationError(
            {
                "default_kind": f"Unknown kind {default_kind!r}; use "
                f"{', '.join(RequirementKind.values)}."
            }
        )
    return default_kind


# --- ReqIF import ----------------------------------------------------------------------------


def _read_reqif(data: bytes, label: str) -> ReqIFDocument:
    """Parse a .reqif document or the .reqif members of a .reqifz archive (merged).

    An archive may expand to ``SAFECASE_MAX_EXPANDED_BYTES`` at most, and to no more than
    ``SAFECASE_MAX_EXPANSION_RATIO`` times its size, counted while decompressing (see
    :mod:`compliance.archives`). A refusal names the file as the user
    gave it.
    """
    try:
        if data[:4] == b"PK\x03\x04":
            members = read_reqif_archive(
                data,
                max_total_bytes=settings.SAFECASE_MAX_EXPANDED_BYTES,
                max_files=DEFAULT_MAX_ARCHIVE_FILES,
                max_ratio=settings.SAFECASE_MAX_EXPANSION_RATIO,
            )
            documents = [parse_reqif(members[name]) for name in sorted(members)]
            return _merge(documents)
        return parse_reqif(data)
    except ReqIFError as exc:
        raise _refuse(f"{label}: {exc}") from None


def _merge(documents: list[ReqIFDocument]) -> ReqIFDocument:
    if len(documents) == 1:
        return documents[0]
    first = documents[0]
    merged = ReqIFDocument(title=first.title, tool=first.tool, identifier=first.identifier)
    merged.reqif_tool_id = first.reqif_tool_id
    for doc in documents:
        renamed: dict[str, str] = {}
        for key, obj in doc.objects.items():
            new_key = key
            n = 2
            while new_key in merged.objects:
                new_key = f"{key}#{n}"
                n += 1
            if new_key != key:
                renamed[key] = new_key
                merged.warnings.append(
                    f"SPEC-OBJECT {key!r} appears in two archive members; the repeat is kept "
                    f"as {new_key!r}"
                )
                obj.identifier = new_key
            merged.objects[new_key] = obj
        for relation in doc.relations:
            relation.source = renamed.get(relation.source, relation.source)
            relation.target = renamed.get(relation.target, relation.target)
            merged.relations.append(relation)
        if renamed:
            stack = [node for spec in doc.specifications for node in spec.children]
            while stack:
                node = stack.pop()
                node.object_ref = renamed.get(node.object_ref, node.object_ref)
                stack.extend(node.children)
        merged.specifications.extend(doc.specifications)
        merged.warnings.extend(doc.warnings)
        merged.unmapped.extend(doc.unmapped)
    return merged


@dataclass(slots=True)
class _Place:
    section: str
    position: int
    prefix: str


def _placements(doc: ReqIFDocument) -> dict[str, _Place]:
    """Section (heading titles above), position (document order) and the specification's
    ``ReqIF.Prefix`` of every object placed in a SPECIFICATION tree (first place wins)."""
    places: dict[str, _Place] = {}
    position = 0
    for spec in doc.specifications:
        prefix = (spec.values.get("ReqIF.Prefix") or "").strip()
        stack: list[tuple[Hierarchy, tuple[str, ...]]] = [
            (node, ()) for node in reversed(spec.children)
        ]
        while stack:
            node, path = stack.pop()
            obj = doc.objects.get(node.object_ref)
            if obj is not None and node.object_ref not in places:
                position += 1
                section = SECTION_SEPARATOR.join(path)[:_SECTION_MAX]
                places[node.object_ref] = _Place(section, position, prefix)
            child_path = path
            if obj is not None and obj.is_heading and obj.title:
                child_path = (*path, obj.title)
            stack.extend((child, child_path) for child in reversed(node.children))
    for key in doc.objects:
        if key not in places:
            position += 1
            places[key] = _Place("", position, "")
    return places


def _shift_positions(project: Project, places: dict[str, _Place]) -> None:
    """Keep a document's positions where its earlier import put them, or after everything in
    the project for a new document, so that two documents do not interleave."""
    keys = {_identifier_key(k) for k in places}
    rows = Requirement.objects.filter(project=project).values_list("reqif_identifier", "position")
    highest, known = 0, []
    for identifier, position in rows:
        highest = max(highest, position)
        if identifier in keys:
            known.append(position)
    base = min(known) - 1 if known else highest
    for place in places.values():
        place.position += base


def _plain(text: str) -> str:
    """Text as the ReqIF reader gives it back: whitespace runs collapsed, no empty lines."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _incoming_object(
    obj: SpecObject, place: _Place, from_safecase: bool, notes: _Notes
) -> _Incoming:
    title = obj.title or ""
    if len(title) > _TITLE_MAX:
        notes.add(f"title longer than {_TITLE_MAX} characters cut", obj.identifier)
        title = title[:_TITLE_MAX]
    fields: dict = {
        "title": title,
        "text": _plain(obj.text or ""),
        "text_xhtml": obj.text_xhtml or "",
        "section": place.section,
        "position": place.position,
        "is_heading": obj.is_heading,
    }
    attributes: dict[str, str] = {}
    kept: dict[str, str] = {}
    code_attribute = None
    for name, value in obj.values.items():
        normalised = _normalised(name)
        role = _READER_ROLES.get(normalised)
        if role is not None:
            if role[0] == "foreign_id" and value.strip():
                kept[name] = value
            continue  # title, text and chapter name are the requirement's own fields
        if normalised == "code" and value.strip():
            code_attribute = value.strip()
            kept[name] = value
        elif normalised in _KIND_ATTRIBUTES and "kind" not in fields and kind_for(value):
            fields["kind"] = kind_for(value)
        elif _is_asil_attribute(normalised) and "asil" not in fields and value.strip():
            asil = asil_for(value)
            if asil is None:
                notes.add(
                    f"ASIL value not readable (kept as attribute {name!r}; QM for a new "
                    "requirement, unchanged on re-import)",
                    f"{obj.identifier}: {value!r}",
                )
                attributes[name] = value
            else:
                fields["asil"] = asil
        elif normalised == "status" and "status" not in fields and status_for(value):
            fields["status"] = status_for(value)
        elif normalised == "version" and from_safecase:
            continue  # Safecase's own version counter: it grows here, not in the file
        elif normalised == "section" and from_safecase:
            fields["section"] = value[:_SECTION_MAX]  # kept even without a heading above it
        else:
            if normalised in _KIND_ATTRIBUTES and value.strip() and "kind" not in fields:
                notes.add(
                    "kind value not recognised (kept as attribute; default kind used)",
                    f"{obj.identifier}: {value!r}",
                )
            elif normalised == "status" and value.strip() and "status" not in fields:
                notes.add(
                    "status value not a Safecase status (kept as attribute)",
                    f"{value!r}",
                )
            attributes[name] = value
    fields["attributes"] = attributes
    foreign = (obj.foreign_id or "").strip()
    codes = [c for c in (code_attribute, foreign) if c]
    if foreign and place.prefix:
        codes.append(f"{place.prefix}{foreign}")
    label = obj.foreign_id or obj.identifier
    return _Incoming(_identifier_key(obj.identifier), codes, label, fields, kept)


def reqif_import(
    *,
    user,
    project: Project,
    data: bytes,
    filename: str,
    default_kind: str = "FSR",
    on_violation: str = REFUSE,
) -> ImportReport:
    """Import a ReqIF document (``.reqif`` bytes) or archive (``.reqifz``) into ``project``.

    One transaction and one ledger entry. Raises :class:`UploadTooLarge` over the upload
    limit and ``ValidationError`` (key ``file``) for a file that cannot be read safely, in
    which case nothing is written. ``on_violation`` (``"refuse"`` or ``"note"``) says what a
    relation breaking a trace-link rule does: see :mod:`compliance.links`.
    """
    require(user, project, Action.EDIT)
    check_upload_size(len(data))
    default_kind = _check_default_kind(default_kind)
    on_violation = check_on_violation(on_violation)
    doc = _read_reqif(bytes(data), _file_label(filename))
    notes = _Notes()
    notes.extend(f"ReqIF: {w}" for w in doc.warnings)
    notes.extend(f"ReqIF (not imported): {u}" for u in doc.unmapped)
    from_safecase = doc.reqif_tool_id == "Safecase"
    places = _placements(doc)
    _shift_positions(project, places)
    keys = list(doc.objects)
    keys.sort(key=lambda k: places[k].position)
    items = [_incoming_object(doc.objects[k], places[k], from_safecase, notes) for k in keys]
    report = ImportReport(tool=doc.tool)
    label = _file_label(filename)

    _withhold_review_statuses(user, project, items, notes)
    with transaction.atomic():
        outcome = _upsert(user, project, items, by_code=False, default_kind=default_kind)
        by_key = {k: r for k, r in zip(keys, outcome.requirements, strict=True)}
        # Relations may point at requirements imported earlier from another document.
        outside = {
            _identifier_key(ref)
            for relation in doc.relations
            for ref in (relation.source, relation.target)
            if ref and ref not in by_key
        }
        earlier = {
            r.reqif_identifier: r
            for r in Requirement.objects.filter(project=project, reqif_identifier__in=outside)
        }

        def end(ref: str) -> Requirement | None:
            return by_key.get(ref) or earlier.get(_identifier_key(ref))

        links = LinkBatch(user, project, on_violation=on_violation, note=notes.add)
        for relation in doc.relations:
            kind, known = link_kind_for(relation.type_name)
            source, target = end(relation.source), end(relation.target)
            reason = None
            if source is None or target is None:
                missing_end = "source" if source is None else "target"
                ref = relation.source if source is None else relation.target
                reason = f"the {missing_end} {ref!r} is not a requirement of this project"
            else:
                reason = links.add(
                    source,
                    kind,
                    target,
                    _identifier_key(relation.identifier),
                    where=f"relation {relation.identifier}",
                )
            if reason is not None:
                report.unmapped.append(
                    {
                        "relation": relation.identifier,
                        "type": relation.type_name,
                        "source": relation.source,
                        "target": relation.target,
                        "reason": reason,
                    }
                )
                continue
            report.links += 1
            if not known:
                notes.add(
                    f"relation type {relation.type_name!r} has no matching link kind; "
                    "imported as derives-from",
                    relation.identifier,
                )
        link_batch_write(links)

        report.headings = sum(1 for item in items if item.fields["is_heading"])
        report.requirements = len(items) - report.headings
        report.created, report.updated = outcome.created, outcome.updated
        report.unchanged = outcome.unchanged
        report.warnings = notes.render()
        _record_import(
            user,
            project,
            f"reqif-import:{label}",
            data,
            {
                "action": "import",
                "format": "reqif",
                "file": label,
                "bytes": len(data),
                "tool": doc.tool,
                "specObjects": len(doc.objects),
                "specRelations": len(doc.relations),
                **{
                    k: getattr(report, k)
                    for k in ("requirements", "headings", "links", "created", "updated")
                },
                "unchangedRequirements": report.unchanged,
                "unmapped": len(report.unmapped),
                "warnings": len(report.warnings),
            },
        )
    return report


# --- ReqIF export ----------------------------------------------------------------------------


def _export_identifier(project: Project, requirement: Requirement, seen: set[str]) -> str:
    identifier = requirement.reqif_identifier
    if (
        not identifier
        or not _NCNAME.match(identifier)
        or identifier.startswith("_sc-")
        or identifier in seen
    ):
        identifier = f"safecase.{project.key}.{requirement.code}"
        n = 2
        while identifier in seen:
            identifier = f"safecase.{project.key}.{requirement.code}.{n}"
            n += 1
    seen.add(identifier)
    return identifier


def _hierarchy(ordered: list[tuple[Requirement, str]]) -> list[Hierarchy]:
    """Rebuild the tree: each item goes under the latest open heading whose path is its
    section; headings open a level for what follows."""
    roots: list[Hierarchy] = []
    stack: list[tuple[Hierarchy, str]] = []  # (heading node, section path inside it)
    for requirement, identifier in ordered:
        section = requirement.section
        while stack and not (
            section == stack[-1][1] or section.startswith(stack[-1][1] + SECTION_SEPARATOR)
        ):
            stack.pop()
        node = Hierarchy(identifier, [], requirement.is_heading)
        (stack[-1][0].children if stack else roots).append(node)
        if requirement.is_heading and requirement.title:
            path = (
                f"{section}{SECTION_SEPARATOR}{requirement.title}" if section else requirement.title
            )
            stack.append((node, path[:_SECTION_MAX]))
    return roots


def reqif_export(*, user, project: Project) -> bytes:
    """The project's requirements, headings and requirement links as a ReqIF 1.2 document."""
    require(user, project, Action.VIEW)
    requirements = list(Requirement.objects.filter(project=project).order_by("position", "code"))
    seen: set[str] = set()
    identifiers = {r.pk: _export_identifier(project, r, seen) for r in requirements}
    extra_names: dict[str, None] = dict.fromkeys(_EXPORT_ATTRIBUTES)
    for requirement in requirements:
        for name in requirement.attributes or {}:
            if name not in _WRITER_STANDARD_NAMES:
                extra_names.setdefault(name, None)
    objects = []
    for requirement in requirements:
        values = {
            str(k): str(v)
            for k, v in (requirement.attributes or {}).items()
            if k not in _WRITER_STANDARD_NAMES and v is not None
        }
        values.update(
            {
                "ASIL": requirement.asil,
                "Kind": requirement.kind,
                "Status": requirement.status,
                "Version": str(requirement.version),
                "Code": requirement.code,
                "Section": requirement.section,
            }
        )
        objects.append(
            SpecObject(
                identifier=identifiers[requirement.pk],
                values=values,
                title=requirement.title or None,
                text=requirement.text or None,
                text_xhtml=requirement.text_xhtml or None,
                foreign_id=requirement.code,
                is_heading=requirement.is_heading,
                last_change=_timestamp(requirement.updated_at),
            )
        )
    relations = []
    links = TraceLink.objects.filter(project=project, target_requirement__isnull=False).order_by(
        "id"
    )
    for link in links.values_list(
        "pk", "source_id", "kind", "target_requirement_id", "reqif_identifier"
    ):
        pk, source_id, kind, target_id, identifier = link
        if not identifier or not _NCNAME.match(identifier) or identifier in seen:
            identifier = f"safecase.{project.key}.link.{pk}"
        seen.add(identifier)
        relations.append(
            SpecRelation(
                identifier=identifier,
                source=identifiers[source_id],
                target=identifiers[target_id],
                type_name=kind,
            )
        )
    specification = Specification(
        identifier=f"safecase.{project.key}.specification",
        long_name=project.name,
        children=_hierarchy([(r, identifiers[r.pk]) for r in requirements]),
    )
    try:
        return write_reqif(
            f"{project.key}: {project.name}",
            objects,
            relations,
            [specification],
            list(extra_names),
            document_id=f"safecase.{project.key}.export",
        )
    except ReqIFError as exc:
        raise ValidationError({"reqif": str(exc)}) from exc


def _timestamp(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- Tables ----------------------------------------------------------------------------------


def _table_format(data: bytes, filename: str) -> str:
    name = (filename or "").lower()
    if name.endswith((".xlsm", ".xltm", ".xlsb", ".xls", ".xlam")):
        raise _refuse(
            "Macro-enabled and legacy Excel workbooks are refused; save the sheet as .xlsx or .csv."
        )
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith((".csv", ".txt")):
        if data[:4] == b"PK\x03\x04":
            raise _refuse("The .csv file is a zip archive; upload a workbook as .xlsx.")
        return "csv"
    raise _refuse("Upload a .csv (UTF-8) or .xlsx file.")


def _csv_rows(data: bytes) -> tuple[list, Iterator[list]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(
            f"The CSV file is not UTF-8 (byte {exc.start}); export it as UTF-8."
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise _refuse(f"The CSV header row cannot be read: {exc}") from None

    def rows() -> Iterator[list]:
        try:
            yield from reader
        except csv.Error as exc:
            raise _refuse(f"The CSV file is malformed at line {reader.line_num}: {exc}") from None

    return header, rows()


def _check_workbook(data: bytes, label: str) -> None:
    """Refuse macros, DTDs and zip bombs before openpyxl reads the workbook.

    Every part is decompressed once with a running count (openpyxl follows the workbook's
    relationships to parts of any name, so none is skipped) and the workbook is refused as
    soon as the count passes ``SAFECASE_MAX_EXPANDED_BYTES`` or the expansion ratio (see
    :func:`_read_reqif`); parts other than media are
    scanned for DTDs on the way.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _refuse(f"{label} is not a readable workbook (not a zip archive).") from None
    cap = archives.expansion_limit(
        len(data), settings.SAFECASE_MAX_EXPANDED_BYTES, settings.SAFECASE_MAX_EXPANSION_RATIO
    )

    def no_dtd(info: zipfile.ZipInfo, window: bytes) -> None:
        if info.filename.lower().startswith("xl/media/"):
            return
        if xmlsafe.has_dtd(window):
            raise archives.ArchiveRefused("it contains a DTD (<!DOCTYPE or <!ENTITY)")

    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_WORKBOOK_ENTRIES:
            raise _refuse(
                f"{label}: the workbook has {len(infos)} parts, more than {MAX_WORKBOOK_ENTRIES}."
            )
        if any(i.filename.lower().endswith("vbaproject.bin") for i in infos):
            raise _refuse(f"{label} contains macros (VBA); save it as a plain .xlsx.")
        if any(i.flag_bits & 0x1 for i in infos):
            raise _refuse(f"{label}: the workbook is encrypted.")
        try:
            archives.measure(archive, infos, cap, "its parts", inspect=no_dtd)
        except archives.ArchiveRefused as exc:
            raise _refuse(f"{label} is refused: {exc}.") from None
        try:
            content_types = archive.read("[Content_Types].xml")
        except KeyError:
            raise _refuse(f"{label} is not a workbook ([Content_Types].xml missing).") from None
        if b"macroEnabled" in content_types:
            raise _refuse(f"{label}: the workbook is macro-enabled; save it as a plain .xlsx.")


def _xlsx_rows(data: bytes, label: str) -> tuple[list, Iterator[list]]:
    _check_workbook(data, label)
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False, keep_vba=False
        )
    except Exception as exc:  # openpyxl raises many kinds on a broken file
        raise _refuse(f"The workbook cannot be read: {exc}") from None
    if not workbook.worksheets:
        workbook.close()
        raise _refuse("The workbook has no worksheet.")
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    header = list(next(rows, None) or [])

    def rest() -> Iterator[list]:
        try:
            for row in rows:
                yield list(row)
        finally:
            workbook.close()

    return header, rest()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dt.datetime, dt.date)):
        value = value.isoformat()
    text = str(value).strip()
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@"):
        text = text[1:]  # Safecase's own CSV export escapes formulas this way
    return text


def _columns(header: list, mapping: dict[str, str] | None) -> dict[str, int]:
    names = [_cell(h) for h in header]
    lookup: dict[str, int] = {}
    for index, name in enumerate(names):
        if name:
            lookup.setdefault(name.casefold(), index)
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(TABLE_FIELDS))
    if unknown:
        raise ValidationError(
            {"mapping": f"Unknown field(s) {', '.join(unknown)}; map {', '.join(TABLE_FIELDS)}."}
        )
    columns = {}
    for name in TABLE_FIELDS:
        header_name = mapping.get(name)
        if header_name is not None:
            index = lookup.get(str(header_name).strip().casefold())
            if index is None:
                raise ValidationError(
                    {
                        "mapping": f"No column {header_name!r} (for {name}) in the header row: "
                        f"{', '.join(n for n in names if n) or 'empty'}."
                    }
                )
            columns[name] = index
        elif name in lookup:
            columns[name] = lookup[name]
    if "code" not in columns:
        raise ValidationError(
            {"mapping": "No code column: name one 'code' or map it, e.g. code=ID."}
        )
    return columns


def _table_item(
    number: int, cells: dict[str, str], seen: dict[str, int]
) -> tuple[_Incoming | None, str | None]:
    code = cells["code"]
    if not _valid_code(code):
        return None, f"invalid code {code!r}: {code_validator.message}"
    if code in seen:
        return None, f"code {code} repeats row {seen[code]}"
    fields: dict = {}
    if cells.get("kind"):
        kind = kind_for(cells["kind"])
        if kind is None:
            return None, (
                f"invalid kind {cells['kind']!r}; use {', '.join(RequirementKind.values)}"
            )
        fields["kind"] = kind
    if cells.get("asil"):
        asil = asil_for(cells["asil"])
        if asil is None:
            return None, f"invalid ASIL {cells['asil']!r}; use QM, A-D, or X(Y) such as B(D)"
        fields["asil"] = asil
    if cells.get("status"):
        status = status_for(cells["status"])
        if status is None:
            return None, (
                f"invalid status {cells['status']!r}; use {', '.join(RequirementStatus.values)}"
            )
        fields["status"] = status
    for name, limit in (("title", _TITLE_MAX), ("section", _SECTION_MAX)):
        if name in cells:
            if len(cells[name]) > limit:
                return None, f"{name} longer than {limit} characters"
            fields[name] = cells[name]
    if "text" in cells:
        fields["text"] = cells["text"]
    seen[code] = number
    return _Incoming("", [code], code, fields), None


def table_import(
    *,
    user,
    project: Project,
    data: bytes,
    filename: str,
    mapping: dict[str, str] | None = None,
    default_kind: str = "FSR",
    on_violation: str = REFUSE,
) -> ImportReport:
    """Import requirements from a CSV or XLSX table; ``mapping`` maps the fields of
    :data:`TABLE_FIELDS` to column headers (unmapped fields match headers of their own name,
    ignoring case). One transaction and one ledger entry. ``on_violation`` as for
    :func:`reqif_import`."""
    require(user, project, Action.EDIT)
    check_upload_size(len(data))
    default_kind = _check_default_kind(default_kind)
    on_violation = check_on_violation(on_violation)
    data = bytes(data)
    kind_of_file = _table_format(data, filename)
    header, rows = (
        _csv_rows(data) if kind_of_file == "csv" else _xlsx_rows(data, _file_label(filename))
    )
    columns = _columns(header, mapping)

    report = ImportReport(tool=kind_of_file)
    base = Requirement.objects.filter(project=project).aggregate(top=Max("position"))["top"] or 0
    items: list[_Incoming] = []
    parents: list[tuple[int, int, list[str]]] = []  # (row, item index, parent codes)
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        if number - 1 > MAX_TABLE_ROWS:
            raise _refuse(f"The table has more than {MAX_TABLE_ROWS:,} rows.")
        cells = {name: _cell(row[i]) if i < len(row) else "" for name, i in columns.items()}
        if not any(cells.values()):
            continue
        item, reason = _table_item(number, cells, seen)
        if item is not None:
            item.defaults["position"] = base + number - 1
        if item is None:
            report.unmapped.append({"row": number, "code": cells["code"], "reason": reason})
            continue
        if cells.get("parent"):
            parents.append((number, len(items), re.split(r"[\s,;]+", cells["parent"].strip())))
        items.append(item)

    notes = _Notes()
    _withhold_review_statuses(user, project, items, notes)
    label = _file_label(filename)
    with transaction.atomic():
        outcome = _upsert(user, project, items, by_code=True, default_kind=default_kind)
        if parents:
            requirements = {r.code: r for r in Requirement.objects.filter(project=project)}
            requirements.update({r.code: r for r in outcome.requirements})
            goals = {g.code: g for g in SafetyGoal.objects.filter(project=project)}
            links = LinkBatch(user, project, on_violation=on_violation, note=notes.add)
            for number, index, codes in parents:
                source = outcome.requirements[index]
                for code in dict.fromkeys(codes):
                    target = requirements.get(code) or goals.get(code)
                    if target is None:
                        reason = "no requirement or safety goal with this code in the project"
                    else:
                        reason = links.add(
                            source, LinkKind.DERIVES_FROM, target, where=f"row {number}"
                        )
                    if reason is None:
                        report.links += 1
                    else:
                        report.unmapped.append(
                            {"row": number, "code": source.code, "parent": code, "reason": reason}
                        )
            link_batch_write(links)
        report.requirements = len(items)
        report.created, report.updated = outcome.created, outcome.updated
        report.unchanged = outcome.unchanged
        report.warnings = notes.render()
        _record_import(
            user,
            project,
            f"table-import:{label}",
            data,
            {
                "action": "import",
                "format": kind_of_file,
                "file": label,
                "bytes": len(data),
                "columns": {name: _cell(header[i]) for name, i in columns.items()},
                "requirements": report.requirements,
                "links": report.links,
                "created": report.created,
                "updated": report.updated,
                "unchangedRequirements": report.unchanged,
                "unmapped": len(report.unmapped),
            },
        )
    return report
