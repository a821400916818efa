"""Catalog files (vehicles, controllers, maneuvers, ...) and ``CatalogReference`` resolution.

A catalog file holds one ``Catalog`` element (no Storyboard) whose children are reusable
entries, each with its own ``ParameterDeclarations``. A scenario uses an entry through
``<CatalogReference catalogName=".." entryName="..">`` with ``ParameterAssignment`` children:
``parameterRef`` names a parameter *of the entry* (written with or without ``$``) and ``value``
is a literal, a ``$name`` or a ``${...}`` expression over the scenario's parameters. Resolving
a reference gives the entry's parameters at their declared defaults, overridden by the
assignments, typed and constraint-checked, and the entry with every ``$name`` replaced.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from validation.openscenario.errors import ScenarioError
from validation.openscenario.expressions import _references, resolve_value
from validation.openscenario.parameters import (
    CatalogReferenceSpec,
    LogicalScenario,
    ParameterDeclaration,
)
from validation.openscenario.parsing import (
    CATALOG,
    _attr,
    _declarations,
    _parse_xml,
    _read,
    document_kind,
)

#: Entry elements of a catalog and what they are, in words.
ENTRY_KINDS = {
    "Vehicle": "vehicle",
    "Controller": "controller",
    "Pedestrian": "pedestrian",
    "MiscObject": "misc object",
    "Environment": "environment",
    "Maneuver": "maneuver",
    "Trajectory": "trajectory",
    "Route": "route",
}


@dataclass(frozen=True)
class CatalogEntry:
    """One entry of a catalog: its element name (``Vehicle``, ...), name and parameters."""

    kind: str
    name: str
    parameters: dict[str, ParameterDeclaration]
    element: etree._Element = field(compare=False, repr=False)
    _space: LogicalScenario = field(compare=False, repr=False, default=None)

    @property
    def kind_label(self) -> str:
        return ENTRY_KINDS.get(self.kind, self.kind)

    def values(self, assignments: Mapping[str, Any], what: str) -> dict[str, Any]:
        """The entry's parameters: defaults overridden by ``assignments``, typed and checked."""
        try:
            values = self._space.concrete(assignments)
        except ScenarioError as exc:
            declared = ", ".join(self.parameters) or "none"
            raise ScenarioError(
                f"{what}: {exc} (entry {self.name!r} declares: {declared})"
            ) from None
        bad = self._space.violations(values)
        if bad:
            raise ScenarioError(
                f"{what}: value(s) violate the constraints of entry {self.name!r}: "
                + ", ".join(f"{n}={values[n]!r}" for n in bad)
            )
        return values

    def resolved_element(self, values: Mapping[str, Any]) -> etree._Element:
        """A copy of the entry without its ParameterDeclarations, every ``$name`` and
        ``${...}`` attribute replaced by its value."""
        el = copy.deepcopy(self.element)
        for decls in el.findall("ParameterDeclarations"):
            el.remove(decls)
        for node in el.iter():
            for key, raw in node.attrib.items():
                if raw.strip().startswith("$"):
                    value = resolve_value(raw, values)
                    text = ("true" if value else "false") if isinstance(value, bool) else value
                    node.set(key, str(text))
        return el

    def summary(self) -> dict[str, Any]:
        """JSON: kind, name and declared parameters (type and default as written)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "parameters": [
                {"name": p.name, "type": p.type, "default": p.value}
                for p in self.parameters.values()
            ],
        }


@dataclass
class Catalog:
    """A parsed catalog file."""

    name: str
    file_name: str | None
    path: Path | None
    description: str
    entries: dict[str, CatalogEntry]

    @property
    def kinds(self) -> list[str]:
        """The entry kinds the catalog holds, in words, in first-seen order."""
        out: list[str] = []
        for entry in self.entries.values():
            if entry.kind_label not in out:
                out.append(entry.kind_label)
        return out


def parse_catalog(source: str | Path | bytes, name: str | None = None) -> Catalog:
    """Parse an OpenSCENARIO catalog file (path or bytes); raises :class:`ScenarioError`.

    Entries must have unique names and use only the parameters they declare.
    """
    data, path, what = _read(source, "catalog", name)
    root = _parse_xml(data, what)
    if document_kind(root) != CATALOG:
        raise ScenarioError(f"{what}: has no Catalog element, it is not a catalog")
    catalog_el = root.find("Catalog")
    catalog_name = _attr(catalog_el, "name", what)
    header = root.find("FileHeader")
    entries: dict[str, CatalogEntry] = {}
    for el in catalog_el:
        if not isinstance(el.tag, str):
            continue  # comments, processing instructions
        if el.tag not in ENTRY_KINDS:
            raise ScenarioError(f"{what}: unsupported catalog entry <{el.tag}>")
        entry_name = _attr(el, "name", what)
        label = f"{what}: entry {entry_name!r}"
        if entry_name in entries:
            raise ScenarioError(f"{what}: entry {entry_name!r} appears twice")
        parameters = _declarations(el, label)
        used: set[str] = set()
        for node in el.iter():
            for raw in node.attrib.values():
                if "$" in raw:
                    used |= _references(raw)
        undeclared = sorted(used - set(parameters))
        if undeclared:
            names = ", ".join(f"${n}" for n in undeclared)
            raise ScenarioError(f"{label}: undeclared parameter(s) referenced: {names}")
        space = LogicalScenario(
            file_name=None,
            path=None,
            description="",
            revision=None,
            parameters=parameters,
            entities=[],
        )
        try:
            space.defaults()
        except ScenarioError as exc:
            raise ScenarioError(f"{label}: {exc}") from None
        entries[entry_name] = CatalogEntry(el.tag, entry_name, parameters, el, space)
    if not entries:
        raise ScenarioError(f"{what}: catalog {catalog_name!r} has no entries")
    return Catalog(
        name=catalog_name,
        file_name=name or (path.name if path else None),
        path=path,
        description=header.get("description", "") if header is not None else "",
        entries=entries,
    )


@dataclass(frozen=True)
class ResolvedReference:
    """A ``CatalogReference`` resolved against its catalog."""

    catalog: str
    entry: str
    kind: str
    #: the assignments as written in the scenario (entry parameter -> raw value)
    assignments: dict[str, str]
    #: every parameter of the entry: its default, or the assigned value (typed)
    parameters: dict[str, Any]
    element: etree._Element = field(compare=False, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "catalog": self.catalog,
            "entry": self.entry,
            "kind": self.kind,
            "assignments": self.assignments,
            "parameters": self.parameters,
        }


def resolve_reference(
    ref: CatalogReferenceSpec,
    catalogs: Mapping[str, Catalog],
    values: Mapping[str, Any],
    what: str = "the scenario file",
) -> ResolvedReference:
    """Resolve ``ref`` with the scenario's parameter ``values``; the catalog must be given.

    Raises :class:`ScenarioError` for an entry the catalog lacks, an assignment to a parameter
    the entry does not declare, or a value the entry's type or constraints refuse.
    """
    label = f"{what}: CatalogReference {ref.catalog}/{ref.entry}"
    try:
        catalog_name = str(resolve_value(ref.catalog, values))
        entry_name = str(resolve_value(ref.entry, values))
    except ScenarioError as exc:
        raise ScenarioError(f"{label}: {exc}") from None
    if (catalog_name, entry_name) != (ref.catalog, ref.entry):
        label = f"{label} (= {catalog_name}/{entry_name})"
    catalog = catalogs.get(catalog_name)
    if catalog is None:
        raise ScenarioError(f"{label}: catalog {catalog_name!r} is not available")
    entry = catalog.entries.get(entry_name)
    if entry is None:
        where = catalog.file_name or "its file"
        raise ScenarioError(
            f"{label}: catalog {catalog_name!r} ({where}) has no entry {entry_name!r}"
        )
    assigned: dict[str, Any] = {}
    for name, raw in ref.assignments:
        try:
            assigned[name] = resolve_value(raw, values)
        except ScenarioError as exc:
            raise ScenarioError(f"{label}: {name}: {exc}") from None
    parameters = entry.values(assigned, label)
    return ResolvedReference(
        catalog=catalog_name,
        entry=entry_name,
        kind=entry.kind,
        assignments=dict(ref.assignments),
        parameters=parameters,
        element=entry.resolved_element(parameters),
    )


def _depends_on(ref: CatalogReferenceSpec) -> tuple[str, ...]:
    """The scenario parameters a reference's catalog, entry or assignments use."""
    names = _references(ref.catalog) | _references(ref.entry)
    for _, raw in ref.assignments:
        names |= _references(raw)
    return tuple(sorted(names))


def resolve_references(
    scenario: LogicalScenario,
    catalogs: Mapping[str, Catalog] | Iterable[Catalog],
    cases: Iterable[Mapping[str, Any]] = (),
    what: str | None = None,
) -> tuple[list[ResolvedReference], list[str]]:
    """Resolve every ``CatalogReference`` of ``scenario`` at its defaults, and check it in
    every one of ``cases`` (an entry name or assignment may be a parameter a distribution
    varies; each distinct combination is resolved once).

    Returns the references resolved at the defaults and the names of the catalogs that are not
    available (their references stay unresolved; the caller reports them). Raises
    :class:`ScenarioError` for the first reference that does not resolve, naming the values.
    """
    if not isinstance(catalogs, Mapping):
        catalogs = {c.name: c for c in catalogs}
    defaults = scenario.defaults()
    what = what or scenario.file_name or "the scenario file"
    cases = list(cases)
    resolved, missing = [], []
    for ref in scenario.catalog_references:
        names = _depends_on(ref)
        catalog_names = {str(resolve_value(ref.catalog, defaults))}
        if "$" in ref.catalog:
            catalog_names |= {str(resolve_value(ref.catalog, c)) for c in cases}
        absent = sorted(n for n in catalog_names if n not in catalogs)
        if absent:
            missing.extend(n for n in absent if n not in missing)
            continue
        resolved.append(resolve_reference(ref, catalogs, defaults, what))
        done = {tuple(defaults[n] for n in names)}
        for case in cases if names else ():
            key = tuple(case[n] for n in names)
            if key in done:
                continue
            done.add(key)
            shown = ", ".join(f"{n}={case[n]!r}" for n in names)
            try:
                resolve_reference(ref, catalogs, case, what)
            except ScenarioError as exc:
                raise ScenarioError(f"{exc} (in the cases where {shown})") from None
    return resolved, missing
