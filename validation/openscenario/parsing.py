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


def _read(source: str | Path | bytes, kind: str) -> tuple[bytes, Path | None, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), None, f"{kind} bytes"
    path = Path(source)
    try:
        return path.read_bytes(), path, str(path)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc})") from exc


def _attr(el: etree._Element, name: str, what: str) -> str:
    value = el.get(name)
    if value is None:
        raise ScenarioError(f"{what}: <{el.tag}> lacks attribute {name!r}")
    return value


def _scenario_from_root(root: etree._Element, path: Path | None, what: str) -> LogicalScenario:
    if root.find("ParameterValueDistribution") is not None:
        raise ScenarioError(f"{what}: is a ParameterValueDistribution, not a scenario")
    header = root.find("FileHeader")
    description = header.get("description", "") if header is not None else ""
    revision = None
    if header is not None and header.get("revMajor") is not None:
        try:
            revision = (int(header.get("revMajor")), int(header.get("revMinor", "0")))
        except ValueError:
            revision = None

    parameters: dict[str, ParameterDeclaration] = {}
    for decl in root.findall("ParameterDeclarations/ParameterDeclaration"):
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

    declared = {d.get("name") for d in root.iter("ParameterDeclaration") if d.get("name")}
    references: set[str] = set()
    for el in root.iter():
        for value in el.attrib.values():
            if "$" in value:
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
    )
    scenario.defaults()  # defaults must resolve and convert
    return scenario


def parse_scenario(source: str | Path | bytes) -> LogicalScenario:
    """Parse an OpenSCENARIO scenario file (path or bytes); raises :class:`ScenarioError`."""
    data, path, what = _read(source, "scenario")
    return _scenario_from_root(_parse_xml(data, what), path, what)
