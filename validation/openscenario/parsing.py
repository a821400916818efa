"""Reading OpenSCENARIO XML: hardened parsing and the logical scenario of a file."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from compliance.xmlsafe import parse_untrusted
from validation.openscenario.errors import ScenarioError
from validation.openscenario.expressions import _references
from validation.openscenario.parameters import (
    NUMERIC_TYPES,
    PARAMETER_TYPES,
    RULES,
    CatalogReferenceSpec,
    LogicalScenario,
    ParameterDeclaration,
    ValueConstraint,
)


def _parse_xml(data: bytes, what: str) -> etree._Element:
    """Parse untrusted XML bytes (see :mod:`compliance.xmlsafe`)."""
    root = parse_untrusted(data, what, ScenarioError)
    if root.tag != "OpenSCENARIO":
        raise ScenarioError(f"{what}: root element is {root.tag!r}, not 'OpenSCENARIO'")
    return root


def _read(
    source: str | Path | bytes, kind: str, name: str | None = None
) -> tuple[bytes, Path | None, str]:
    """The bytes of ``source``, its path (None for bytes) and how messages name it.

    ``name`` is the file as the user gave it (relative to the imported folder); without it a
    path names itself and bytes are "the <kind> file".
    """
    if isinstance(source, bytes | bytearray):
        return bytes(source), None, name or f"the {kind} file"
    path = Path(source)
    what = name or str(path)
    try:
        return path.read_bytes(), path, what
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ScenarioError(f"{what}: cannot read ({reason})") from exc


#: What an OpenSCENARIO document is, from the element below the root.
SCENARIO, DISTRIBUTION, CATALOG = "scenario", "distribution", "catalog"


def document_kind(root: etree._Element) -> str:
    """``catalog`` (a ``Catalog`` element: vehicles, maneuvers, ... and no Storyboard),
    ``distribution`` (a ``ParameterValueDistribution``) or ``scenario``."""
    if root.find("ParameterValueDistribution") is not None:
        return DISTRIBUTION
    if root.find("Catalog") is not None and root.find("Storyboard") is None:
        return CATALOG
    return SCENARIO


def file_kind(source: str | Path | bytes, name: str | None = None) -> str:
    """:func:`document_kind` of a file; raises :class:`ScenarioError` if it is not one."""
    data, _, what = _read(source, "OpenSCENARIO", name)
    return document_kind(_parse_xml(data, what))


def _is_entry_parameter_name(el: etree._Element, attribute: str) -> bool:
    """``parameterRef`` of a ``ParameterAssignment`` in a ``CatalogReference`` names a parameter
    of the catalog entry (written with or without ``$``), not a parameter of this file."""
    if attribute != "parameterRef" or el.tag != "ParameterAssignment":
        return False
    holder = el.getparent()
    return (
        holder is not None
        and holder.getparent() is not None
        and (holder.getparent().tag == "CatalogReference")
    )


def catalog_references(root: etree._Element, what: str) -> tuple[CatalogReferenceSpec, ...]:
    """Every ``CatalogReference`` of a document, with its raw parameter assignments."""
    refs = []
    for el in root.iter("CatalogReference"):
        catalog = _attr(el, "catalogName", what)
        entry = _attr(el, "entryName", what)
        assignments: dict[str, str] = {}
        for pa in el.findall("ParameterAssignments/ParameterAssignment"):
            name = _attr(pa, "parameterRef", what).strip().lstrip("$")
            if name in assignments:
                raise ScenarioError(
                    f"{what}: CatalogReference {catalog}/{entry} assigns {name!r} twice"
                )
            assignments[name] = _attr(pa, "value", what)
        refs.append(CatalogReferenceSpec(catalog, entry, tuple(assignments.items())))
    return tuple(refs)


def catalog_locations(root: etree._Element) -> dict[str, tuple[str, ...]]:
    """``CatalogLocations``: catalog type (``VehicleCatalog``, ...) -> directory paths."""
    out: dict[str, tuple[str, ...]] = {}
    for holder in root.findall("CatalogLocations/*"):
        dirs = tuple(d.get("path") for d in holder.findall("Directory") if d.get("path"))
        if dirs:
            out[holder.tag] = dirs
    return out


def _attr(el: etree._Element, name: str, what: str) -> str:
    value = el.get(name)
    if value is None:
        raise ScenarioError(f"{what}: <{el.tag}> lacks attribute {name!r}")
    return value


def _declarations(holder: etree._Element, what: str) -> dict[str, ParameterDeclaration]:
    parameters: dict[str, ParameterDeclaration] = {}
    for decl in holder.findall("ParameterDeclarations/ParameterDeclaration"):
        name = _attr(decl, "name", what)
        ptype = _attr(decl, "parameterType", what)
        if ptype not in PARAMETER_TYPES:
            raise ScenarioError(f"{what}: parameter {name!r} has unknown type {ptype!r}")
        if name in parameters:
            raise ScenarioError(f"{what}: parameter {name!r} declared twice")
        groups = []
        for group in decl.findall("ConstraintGroup"):
            constraints = []
            for c in group.findall("ValueConstraint"):
                rule = _attr(c, "rule", what)
                if rule not in RULES:
                    raise ScenarioError(f"{what}: parameter {name!r}: unknown rule {rule!r}")
                if ptype not in NUMERIC_TYPES and rule not in ("equalTo", "notEqualTo"):
                    raise ScenarioError(
                        f"{what}: parameter {name!r} of type {ptype} cannot use rule {rule!r}"
                    )
                constraints.append(ValueConstraint(rule, _attr(c, "value", what)))
            if constraints:
                groups.append(tuple(constraints))
        parameters[name] = ParameterDeclaration(
            name, ptype, _attr(decl, "value", what), tuple(groups)
        )
    return parameters


def _scenario_from_root(root: etree._Element, path: Path | None, what: str) -> LogicalScenario:
    kind = document_kind(root)
    if kind == DISTRIBUTION:
        raise ScenarioError(f"{what}: is a ParameterValueDistribution, not a scenario")
    if kind == CATALOG:
        raise ScenarioError(f"{what}: is a catalog, not a scenario")
    header = root.find("FileHeader")
    description = header.get("description", "") if header is not None else ""
    revision = None
    if header is not None and header.get("revMajor") is not None:
        try:
            revision = (int(header.get("revMajor")), int(header.get("revMinor", "0")))
        except ValueError:
            revision = None

    parameters = _declarations(root, what)

    declared = {d.get("name") for d in root.iter("ParameterDeclaration") if d.get("name")}
    references: set[str] = set()
    for el in root.iter():
        for attribute, value in el.attrib.items():
            if "$" in value and not _is_entry_parameter_name(el, attribute):
                references |= _references(value)
    for p in parameters.values():
        references |= _references(p.value)
        for group in p.constraint_groups:
            for c in group:
                references |= _references(c.value)
    undeclared = sorted(references - declared)
    if undeclared:
        names = ", ".join(f"${n}" for n in undeclared)
        raise ScenarioError(f"{what}: undeclared parameter(s) referenced: {names}")
    # defaults and constraints may only use global parameters
    for p in parameters.values():
        used = _references(p.value) | {
            r for g in p.constraint_groups for c in g for r in _references(c.value)
        }
        outside = sorted(used - set(parameters))
        if outside:
            names = ", ".join(f"${n}" for n in outside)
            raise ScenarioError(f"{what}: parameter {p.name!r} uses undeclared {names}")

    entities = [
        e.get("name")
        for e in [
            *root.findall("Entities/ScenarioObject"),
            *root.findall("Entities/EntitySelection"),
        ]
        if e.get("name")
    ]
    scenario = LogicalScenario(
        file_name=path.name if path else None,
        path=path,
        description=description,
        revision=revision,
        parameters=parameters,
        entities=entities,
        declared=frozenset(declared),
        references=frozenset(references),
        catalog_references=catalog_references(root, what),
        catalog_locations=catalog_locations(root),
    )
    scenario.defaults()  # defaults must resolve and convert
    return scenario


def parse_scenario(source: str | Path | bytes, name: str | None = None) -> LogicalScenario:
    """Parse an OpenSCENARIO scenario file (path or bytes); raises :class:`ScenarioError`.

    ``name`` is how messages name the file (default: its path, or "the scenario file").
    """
    data, path, what = _read(source, "scenario", name)
    return _scenario_from_root(_parse_xml(data, what), path, what)
